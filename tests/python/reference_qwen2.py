"""An independent NumPy reference of the Qwen2 forward pass (Qwen2ForCausalLM), written from
the Hugging Face modeling equations, computing in float64.

    x      = embed_tokens[tokens]
    per layer:
      h    = RMSNorm(x; input_layernorm, eps)            RMSNorm(x) = x / sqrt(mean(x^2) + eps) * w
      q,k,v= h Wq^T + bq, h Wk^T + bk, h Wv^T + bv        (bias on Q, K, V)
      q,k  = RoPE_neox(q), RoPE_neox(k)                   rotate_half: (x1, x2) -> (-x2, x1) on the
                                                          two halves of the head dim, inv_freq_i =
                                                          theta^(-2i/head_dim), angle = pos * inv_freq
      attn = softmax(q k^T / sqrt(head_dim) + causal mask) v, query head h reads KV head
             h // (n_heads / n_kv_heads)                  (GQA, HF repeat_kv)
      x    = x + attn Wo^T                                (no bias on o_proj)
      h    = RMSNorm(x; post_attention_layernorm, eps)
      x    = x + down(silu(gate(h)) * up(h))
    logits = RMSNorm(x; norm) lm_head^T,  lm_head = embed_tokens when tie_word_embeddings
             (or when the checkpoint has no lm_head.weight)

Reads a Hugging Face folder: config.json + model.safetensors, or a sharded checkpoint with
model.safetensors.index.json. safetensors is parsed by hand (u64 LE header size, JSON header
{name: {dtype, shape, data_offsets}}, raw little-endian data); F32, F16, BF16 (and F64) are
supported. Also provides `save_safetensors` so tests can build model folders with NumPy only.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Mapping

import numpy as np

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
              "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "u1"}


# --------------------------------------------------------------------------- safetensors
def read_safetensors_header(path: str) -> tuple[dict, int]:
    """Returns (header dict without __metadata__, byte offset of the data section)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > 100 * 1024 * 1024:
            raise ValueError(f"{path}: implausible header size {n}")
        header = json.loads(f.read(n).decode("utf-8"))
    header.pop("__metadata__", None)
    return header, 8 + n


def load_safetensors(path: str, dtype=np.float64) -> dict[str, np.ndarray]:
    """Loads every tensor of one .safetensors file, converted to `dtype` (float tensors).
    BF16 is widened exactly: its 16 bits are the high half of a float32."""
    header, base = read_safetensors_header(path)
    size = os.path.getsize(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        st = info["dtype"]
        if st not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {st}")
        begin, end = info["data_offsets"]
        shape = tuple(int(d) for d in info["shape"])
        np_dt = np.dtype(_ST_DTYPES[st])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * np_dt.itemsize or base + end > size:
            raise ValueError(f"{path}: tensor {name}: data_offsets do not match its shape/dtype")
        a = mm[base + begin: base + end].view(np_dt).reshape(shape)
        if st == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a.astype(dtype) if a.dtype.kind == "f" else np.array(a)
    del mm
    return out


def save_safetensors(path: str, tensors: Mapping[str, np.ndarray], dtypes: Mapping[str, str] | str = "F32",
                     metadata: Mapping[str, str] | None = None) -> str:
    """Writes a .safetensors file. `dtypes` is one of F32/F16/BF16/F64 for all tensors or a
    per-name mapping. BF16 rounds to nearest even."""
    names = list(tensors)
    blobs, header, off = [], {}, 0
    for name in names:
        st = dtypes if isinstance(dtypes, str) else dtypes.get(name, "F32")
        a = np.asarray(tensors[name])
        if st == "BF16":
            u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
            data = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()
        else:
            data = np.ascontiguousarray(a, dtype=_ST_DTYPES[st]).tobytes()
        header[name] = {"dtype": st, "shape": list(a.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = dict(metadata)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)  # keep the data section 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    return str(path)


def load_hf_folder(folder: str, dtype=np.float64) -> tuple[dict, dict[str, np.ndarray]]:
    """(config, tensors) of a Hugging Face model folder (single file or sharded)."""
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    index = os.path.join(folder, "model.safetensors.index.json")
    single = os.path.join(folder, "model.safetensors")
    tensors: dict[str, np.ndarray] = {}
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            weight_map = json.load(f)["weight_map"]
        for shard in sorted(set(weight_map.values())):
            part = load_safetensors(os.path.join(folder, shard), dtype)
            for name, a in part.items():
                if weight_map.get(name) == shard:
                    tensors[name] = a
        missing = set(weight_map) - set(tensors)
        if missing:
            raise ValueError(f"{folder}: tensors listed in the index but missing: {sorted(missing)[:5]}")
    elif os.path.exists(single):
        tensors = load_safetensors(single, dtype)
    else:
        raise FileNotFoundError(f"{folder}: neither model.safetensors nor model.safetensors.index.json")
    return config, tensors


# --------------------------------------------------------------------------- the model
def round_bf16(a: np.ndarray) -> np.ndarray:
    """ggml's GGML_FP32_TO_BF16 of float32(a), back as float64: nearest, ties to even; NaN kept."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    r = np.where((u & 0x7FFFFFFF) > 0x7F800000, u, r).astype(np.uint32)
    return r.view(np.float32).astype(np.float64)


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def rotate_half(x: np.ndarray) -> np.ndarray:
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def rope_cos_sin(positions: np.ndarray, head_dim: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    inv_freq = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    freqs = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)  # [T, head_dim]
    return np.cos(emb), np.sin(emb)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x: [T, heads, head_dim]; cos/sin: [T, head_dim]."""
    return x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


class Qwen2Reference:
    """Float64 reference forward pass of a Qwen2 checkpoint.

    >>> ref = Qwen2Reference("path/to/hf_folder")
    >>> logits = ref.logits([1, 2, 3])          # np.ndarray [3, vocab_size], float64
    """

    def __init__(self, folder: str | None = None, *, config: dict | None = None,
                 tensors: Mapping[str, np.ndarray] | None = None, bf16_inputs: bool = False):
        # bf16_inputs: round the input of every weight product to bf16 as ggml does (what
        # llama.cpp, and libqwen on AVX512_BF16 CPUs, do for BF16 weights).
        self.bf16_inputs = bf16_inputs
        if folder is not None:
            config, tensors = load_hf_folder(folder)
        if config is None or tensors is None:
            raise ValueError("give a folder, or config= and tensors=")
        self.config = dict(config)
        t = {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}
        c = self.config
        self.n_embd = int(c["hidden_size"])
        self.n_layer = int(c["num_hidden_layers"])
        self.n_head = int(c["num_attention_heads"])
        self.n_kv = int(c.get("num_key_value_heads") or self.n_head)
        self.head_dim = int(c.get("head_dim") or self.n_embd // self.n_head)
        self.n_ff = int(c["intermediate_size"])
        self.eps = float(c.get("rms_norm_eps", 1e-6))
        self.theta = float(c.get("rope_theta", 10000.0))
        if self.n_head % self.n_kv:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if c.get("rope_scaling"):
            raise NotImplementedError("rope_scaling is not supported by this reference")

        self.embed = t["model.embed_tokens.weight"]
        self.vocab = self.embed.shape[0]
        if "lm_head.weight" in t and not c.get("tie_word_embeddings", False):
            self.lm_head = t["lm_head.weight"]
        else:
            self.lm_head = self.embed  # tied
        self.tied = self.lm_head is self.embed
        self.norm = t["model.norm.weight"]
        self.layers = []
        hd = self.head_dim
        for i in range(self.n_layer):
            p = f"model.layers.{i}."
            L = {
                "in_norm": t[p + "input_layernorm.weight"],
                "wq": t[p + "self_attn.q_proj.weight"], "bq": t[p + "self_attn.q_proj.bias"],
                "wk": t[p + "self_attn.k_proj.weight"], "bk": t[p + "self_attn.k_proj.bias"],
                "wv": t[p + "self_attn.v_proj.weight"], "bv": t[p + "self_attn.v_proj.bias"],
                "wo": t[p + "self_attn.o_proj.weight"],
                "post_norm": t[p + "post_attention_layernorm.weight"],
                "gate": t[p + "mlp.gate_proj.weight"], "up": t[p + "mlp.up_proj.weight"],
                "down": t[p + "mlp.down_proj.weight"],
            }
            assert L["wq"].shape == (self.n_head * hd, self.n_embd), L["wq"].shape
            assert L["wk"].shape == (self.n_kv * hd, self.n_embd), L["wk"].shape
            assert L["wv"].shape == (self.n_kv * hd, self.n_embd), L["wv"].shape
            assert L["wo"].shape == (self.n_embd, self.n_head * hd), L["wo"].shape
            assert L["gate"].shape == (self.n_ff, self.n_embd) and L["down"].shape == (self.n_embd, self.n_ff)
            self.layers.append(L)

    def forward(self, tokens, positions=None) -> tuple[np.ndarray, np.ndarray]:
        """Returns (logits [T, vocab], final normed hidden states [T, n_embd])."""
        tok = np.asarray(tokens, dtype=np.int64).reshape(-1)
        if tok.size == 0:
            raise ValueError("no tokens")
        if tok.min() < 0 or tok.max() >= self.vocab:
            raise ValueError("token id out of range")
        T = tok.size
        pos = np.arange(T) if positions is None else np.asarray(positions)
        cos, sin = rope_cos_sin(pos, self.head_dim, self.theta)
        group = self.n_head // self.n_kv
        hd = self.head_dim
        causal = np.triu(np.full((T, T), -np.inf), k=1)
        x = self.embed[tok]
        for L in self.layers:
            h = rms_norm(x, L["in_norm"], self.eps)
            h = self._inputs(h)
            q = (h @ L["wq"].T + L["bq"]).reshape(T, self.n_head, hd)
            k = (h @ L["wk"].T + L["bk"]).reshape(T, self.n_kv, hd)
            v = (h @ L["wv"].T + L["bv"]).reshape(T, self.n_kv, hd)
            q = apply_rope(q, cos, sin)
            k = apply_rope(k, cos, sin)
            k = np.repeat(k, group, axis=1)  # query head j uses kv head j // group
            v = np.repeat(v, group, axis=1)
            scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + causal[None]
            att = np.einsum("hts,shd->thd", softmax(scores, -1), v).reshape(T, self.n_head * hd)
            x = x + self._inputs(att) @ L["wo"].T
            h = self._inputs(rms_norm(x, L["post_norm"], self.eps))
            x = x + self._inputs(silu(h @ L["gate"].T) * (h @ L["up"].T)) @ L["down"].T
        hidden = rms_norm(x, self.norm, self.eps)
        return self._inputs(hidden) @ self.lm_head.T, hidden

    def _inputs(self, a: np.ndarray) -> np.ndarray:
        """a as the input of a weight product: itself, or rounded to bf16 (float32 first)."""
        return round_bf16(a) if self.bf16_inputs else a

    def logits(self, tokens) -> np.ndarray:
        return self.forward(tokens)[0]

    def greedy(self, prompt, n: int) -> list[int]:
        """Greedy continuation (recomputes the full prefix each step: slow but simple)."""
        seq = list(prompt)
        out = []
        for _ in range(n):
            t = int(np.argmax(self.logits(seq)[-1]))
            out.append(t)
            seq.append(t)
        return out
