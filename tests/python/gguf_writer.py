"""A minimal GGUF (version 3) writer in pure Python + NumPy, written from the GGUF spec.

Test infrastructure: it lets tests hand the *same* weights to llama.cpp (our oracle), to the
NumPy reference and to libqwen. Layout written:

    u32 magic "GGUF" | u32 version (3) | u64 n_tensors | u64 n_kv
    n_kv x  (gguf_string key, u32 value_type, value)
    n_tensors x (gguf_string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset)
    padding to `alignment` (general.alignment, default 32)
    tensor data, each tensor starting at a multiple of `alignment` from the data start

gguf_string = u64 length + UTF-8 bytes (no terminator). Arrays = u32 element type, u64 count,
elements. All little-endian. GGUF dims are numpy's shape reversed (ne[0] is the contiguous
axis): a numpy [out, in] matrix is written with dims {in, out}.

Only unquantized tensor types are written here (F32, F16, BF16); quantized files are made
from these by llama.cpp itself (tests/python/oracles.py: llama_quantize).
"""

from __future__ import annotations

import struct
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# value types (gguf.h: enum gguf_type)
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

_SCALAR_FMT = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
    FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d",
}
_NP_FOR_TYPE = {
    UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
    FLOAT32: "<f4", BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8",
}

# ggml tensor types (ggml.h: enum ggml_type) that this writer can encode
GGML_TYPE_F32 = 0
GGML_TYPE_F16 = 1
GGML_TYPE_BF16 = 30
_GGML_BY_NAME = {"f32": GGML_TYPE_F32, "f16": GGML_TYPE_F16, "bf16": GGML_TYPE_BF16}


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> bfloat16, returned as uint16 bit patterns."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)  # keep NaNs quiet NaNs
    return r


def bf16_bits_to_f32(b: np.ndarray) -> np.ndarray:
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


class _Value:
    __slots__ = ("vtype", "value", "elem_type")

    def __init__(self, vtype: int, value: Any, elem_type: int | None = None):
        self.vtype, self.value, self.elem_type = vtype, value, elem_type


def _gguf_string(s: str | bytes) -> bytes:
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


class GGUFWriter:
    """Collects key/values and tensors, then writes one GGUF v3 file.

    Values need explicit GGUF types because llama.cpp checks them (e.g. `qwen2.block_count`
    must be UINT32 and `qwen2.rope.freq_base` FLOAT32): use the typed add_* methods.
    """

    def __init__(self, alignment: int = DEFAULT_ALIGNMENT):
        if alignment <= 0 or alignment % 8:
            raise ValueError("alignment must be a positive multiple of 8")
        self.alignment = alignment
        self.kv: dict[str, _Value] = {}
        self.tensors: list[tuple[str, np.ndarray, int, tuple[int, ...]]] = []
        if alignment != DEFAULT_ALIGNMENT:
            self.add_uint32("general.alignment", alignment)

    # ---- key/values
    def add(self, key: str, vtype: int, value: Any, elem_type: int | None = None) -> None:
        if key in self.kv:
            raise KeyError(f"duplicate key {key}")
        if vtype == ARRAY and elem_type is None:
            raise ValueError("arrays need elem_type")
        self.kv[key] = _Value(vtype, value, elem_type)

    def add_uint32(self, k: str, v: int) -> None: self.add(k, UINT32, int(v))
    def add_int32(self, k: str, v: int) -> None: self.add(k, INT32, int(v))
    def add_uint64(self, k: str, v: int) -> None: self.add(k, UINT64, int(v))
    def add_float32(self, k: str, v: float) -> None: self.add(k, FLOAT32, float(v))
    def add_float64(self, k: str, v: float) -> None: self.add(k, FLOAT64, float(v))
    def add_bool(self, k: str, v: bool) -> None: self.add(k, BOOL, bool(v))
    def add_string(self, k: str, v: str) -> None: self.add(k, STRING, v)

    def add_array(self, k: str, elem_type: int, values: Iterable[Any]) -> None:
        self.add(k, ARRAY, list(values) if elem_type == STRING else np.asarray(values), elem_type)

    # ---- tensors
    def add_tensor(self, name: str, array: np.ndarray, dtype: str | int = "f32") -> None:
        """Adds a tensor given in numpy layout (shape [.., rows, cols]); stored as `dtype`."""
        gtype = _GGML_BY_NAME[dtype] if isinstance(dtype, str) else int(dtype)
        a = np.asarray(array)
        if gtype == GGML_TYPE_F32:
            data = np.ascontiguousarray(a, dtype="<f4")
        elif gtype == GGML_TYPE_F16:
            data = np.ascontiguousarray(a, dtype="<f2")
        elif gtype == GGML_TYPE_BF16:
            data = f32_to_bf16_bits(a.astype(np.float32)).astype("<u2")
        else:
            raise ValueError(f"unsupported ggml type {gtype}")
        if any(t[0] == name for t in self.tensors):
            raise KeyError(f"duplicate tensor {name}")
        dims = tuple(int(d) for d in reversed(a.shape)) or (1,)
        self.tensors.append((name, data, gtype, dims))

    # ---- output
    def _encode_value(self, v: _Value) -> bytes:
        if v.vtype == STRING:
            return _gguf_string(v.value)
        if v.vtype == ARRAY:
            head = struct.pack("<IQ", v.elem_type, len(v.value))
            if v.elem_type == STRING:
                return head + b"".join(_gguf_string(s) for s in v.value)
            if v.elem_type == ARRAY:
                raise ValueError("nested arrays are not supported")
            return head + np.asarray(v.value).astype(_NP_FOR_TYPE[v.elem_type]).tobytes()
        return struct.pack(_SCALAR_FMT[v.vtype], v.value)

    def _pad(self, n: int) -> int:
        return (-n) % self.alignment

    def _header(self) -> bytes:
        out = bytearray()
        out += GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))
        for k, v in self.kv.items():
            out += _gguf_string(k) + struct.pack("<I", v.vtype) + self._encode_value(v)
        offset = 0
        for name, data, gtype, dims in self.tensors:
            out += _gguf_string(name) + struct.pack("<I", len(dims))
            out += struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<IQ", gtype, offset)
            offset += data.nbytes + self._pad(data.nbytes)
        out += b"\0" * self._pad(len(out))
        return bytes(out)

    def _write_to(self, f) -> None:
        f.write(self._header())
        for _, data, _, _ in self.tensors:
            f.write(memoryview(data).cast("B"))
            f.write(b"\0" * self._pad(data.nbytes))

    def to_bytes(self) -> bytes:
        import io
        buf = io.BytesIO()
        self._write_to(buf)
        return buf.getvalue()

    def write(self, path: str) -> str:
        """Streams the file to `path` (tensor data is not copied into one big buffer)."""
        with open(path, "wb") as f:
            self._write_to(f)
        return str(path)


# --------------------------------------------------------------------------- byte-level vocab
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map used by byte-level BPE vocabularies
    (Qwen2 included): printable Latin-1 bytes map to themselves, the other 68 bytes to
    U+0100.. in byte order. E.g. b' ' -> 'Ġ', b'\\n' -> 'Ċ'."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    m, n = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(256 + n)
            n += 1
    return m


def byte_level_vocab(n_vocab: int) -> tuple[list[str], list[int]]:
    """The smallest tokenizer llama.cpp accepts for tokenizer.ggml.model = "gpt2": ids 0..255
    are the 256 single-byte tokens (string = bytes_to_unicode of that byte, token type 1 =
    NORMAL); ids 256.. (if n_vocab > 256) are filler control tokens `<|extra_i|>` (type 3).
    With an empty merges list every byte stays its own token."""
    if n_vocab < 256:
        raise ValueError("a byte-level vocabulary needs n_vocab >= 256")
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)] + [f"<|extra_{i}|>" for i in range(n_vocab - 256)]
    types = [1] * 256 + [3] * (n_vocab - 256)
    return tokens, types


# --------------------------------------------------------------------------- Qwen2 export
HF_TO_GGUF_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def hf_name_to_gguf(name: str) -> str:
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    parts = name.split(".")
    if len(parts) >= 4 and parts[0] == "model" and parts[1] == "layers":
        rest = ".".join(parts[3:])
        if rest in HF_TO_GGUF_LAYER:
            return f"blk.{int(parts[2])}.{HF_TO_GGUF_LAYER[rest]}"
    raise KeyError(f"no GGUF name for tensor {name}")


def write_qwen2_gguf(
    path: str,
    config: Mapping[str, Any],
    tensors: Mapping[str, np.ndarray],
    dtype: str = "f32",
    tokens: Sequence[str] | None = None,
    token_types: Sequence[int] | None = None,
    merges: Sequence[str] = (),
    extra_kv: Mapping[str, tuple[int, Any]] | None = None,
    name: str = "tiny-qwen2-test",
) -> str:
    """Writes a Qwen2 model given as Hugging Face config + tensors (HF names, numpy layout)
    as a GGUF file llama.cpp loads.

    Matrices are stored as `dtype` ("f32", "f16", "bf16"); 1-D tensors (norms, biases) are
    always F32, as llama.cpp's converter does. Q/K are NOT permuted (Qwen2 uses NeoX rope in
    both HF and llama.cpp). A tied model (`tie_word_embeddings`, no lm_head.weight) gets no
    `output.weight`: llama.cpp then uses token_embd as the LM head. Without `tokens`, a
    byte-level vocabulary (byte_level_vocab) of config["vocab_size"] entries is written.
    """
    n_vocab = int(config["vocab_size"])
    if tokens is None:
        tokens, token_types = byte_level_vocab(n_vocab)
    if token_types is None:
        token_types = [1] * len(tokens)
    if len(tokens) != n_vocab or len(token_types) != n_vocab:
        raise ValueError("the vocabulary must have exactly vocab_size entries (llama.cpp checks "
                         "token_embd rows against it)")
    w = GGUFWriter()
    w.add_string("general.architecture", "qwen2")
    w.add_string("general.name", name)
    w.add_uint32("qwen2.block_count", config["num_hidden_layers"])
    w.add_uint32("qwen2.context_length", config.get("max_position_embeddings", 32768))
    w.add_uint32("qwen2.embedding_length", config["hidden_size"])
    w.add_uint32("qwen2.feed_forward_length", config["intermediate_size"])
    w.add_uint32("qwen2.attention.head_count", config["num_attention_heads"])
    w.add_uint32("qwen2.attention.head_count_kv", config.get("num_key_value_heads", config["num_attention_heads"]))
    w.add_float32("qwen2.rope.freq_base", config.get("rope_theta", 10000.0))
    w.add_float32("qwen2.attention.layer_norm_rms_epsilon", config.get("rms_norm_eps", 1e-6))
    w.add_uint32("general.file_type", {"f32": 0, "f16": 1, "bf16": 32}[dtype])
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "qwen2")
    w.add_array("tokenizer.ggml.tokens", STRING, tokens)
    w.add_array("tokenizer.ggml.token_type", INT32, token_types)
    w.add_array("tokenizer.ggml.merges", STRING, merges)
    for k, (t, v) in (extra_kv or {}).items():
        if t == ARRAY:
            et, vals = v
            w.add_array(k, et, vals)
        else:
            w.add(k, t, v)

    tied = bool(config.get("tie_word_embeddings", False)) or "lm_head.weight" not in tensors
    order = ["model.embed_tokens.weight"]
    for i in range(int(config["num_hidden_layers"])):
        order += [f"model.layers.{i}.{k}" for k in HF_TO_GGUF_LAYER]
    order += ["model.norm.weight"]
    if not tied:
        order.append("lm_head.weight")
    for hf in order:
        if hf not in tensors:
            raise KeyError(f"missing tensor {hf}")
        a = np.asarray(tensors[hf], dtype=np.float32)
        w.add_tensor(hf_name_to_gguf(hf), a, "f32" if a.ndim == 1 else dtype)
    return w.write(path)
