"""Python access to the llama.cpp oracle (tests/oracle/llama_oracle.cpp driving the prebuilt
llama.cpp libraries of the npm package @node-llama-cpp/linux-x64).

The oracle directory is $QWEN_ORACLE_DIR, else <repo>/build/oracles. On first use in a process
this runs scripts/build-llama-oracle.sh (which runs scripts/fetch-oracles.sh when the npm
packages are missing, and is a no-op when the driver is up to date). When that fails (no npm,
no network) `OracleUnavailable` is raised; tests should `pytest.skip` on it (see
`require_llama()`).

Wrapped sub-commands:
    llama_logits(model, tokens, all=False, threads=2, kv="f16", batch=None, ctx=None, fa=None)
    llama_teacher(model, tokens, ...)            == llama_logits(..., all=True)
    llama_greedy(model, prompt, n, ..., return_logits=False, stop_eog=False)
    llama_tokenize(model, text, special=False, add_special=False)
    llama_tokenize_many(model, texts, special=False, add_special=False)  (one driver run)
    llama_detokenize(model, tokens, special=False) -> bytes
    llama_quantize(src, dst, qtype, threads=2, pure=False, ..., imatrix_ones=False)
    llama_info(model) -> dict
    llama_dequant(type, blocks) -> float32 array  (ggml's to_float on raw blocks)
    llama_quantize_rows(type, x) -> bytes         (ggml_quantize_chunk, no imatrix)
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Iterable, Sequence

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINS_SUBDIR = os.path.join("node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
LOGITS_MAGIC = b"QLGT"


class OracleUnavailable(RuntimeError):
    """The llama.cpp oracle could not be fetched or built on this machine."""


class OracleError(RuntimeError):
    """The driver ran but reported an error (non-zero exit)."""


def oracle_dir() -> str:
    return os.path.abspath(os.environ.get("QWEN_ORACLE_DIR") or os.path.join(REPO, "build", "oracles"))


_driver: str | None = None
_driver_error: str | None = None


def driver_path(build: bool = True) -> str:
    """Path of the llama_oracle executable; builds it (once per process) when `build`."""
    global _driver, _driver_error
    if _driver:
        return _driver
    if _driver_error:
        raise OracleUnavailable(_driver_error)
    exe = os.path.join(oracle_dir(), BINS_SUBDIR, "llama_oracle")
    if not build:
        if os.access(exe, os.X_OK):
            return exe
        raise OracleUnavailable(f"{exe} not built")
    script = os.path.join(REPO, "scripts", "build-llama-oracle.sh")
    try:
        r = subprocess.run(["bash", script, oracle_dir()], capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        _driver_error = f"cannot run {script}: {e}"
        raise OracleUnavailable(_driver_error) from e
    if r.returncode != 0:
        _driver_error = f"{script} failed ({r.returncode}):\n{r.stderr[-4000:]}"
        raise OracleUnavailable(_driver_error)
    path = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else exe
    if not os.access(path, os.X_OK):
        _driver_error = f"{script} did not produce an executable ({path})"
        raise OracleUnavailable(_driver_error)
    _driver = path
    return path


def available() -> bool:
    try:
        driver_path()
        return True
    except OracleUnavailable:
        return False


def require_llama() -> str:
    """For pytest: returns the driver path or skips the calling test."""
    try:
        return driver_path()
    except OracleUnavailable as e:
        import pytest
        # In CI (and whenever QWEN_REQUIRE_ORACLES=1) a missing oracle is a failure: a parity
        # test that silently skips proves nothing.
        if os.environ.get("CI") or os.environ.get("QWEN_REQUIRE_ORACLES") == "1":
            pytest.fail(f"llama.cpp oracle unavailable: {e}")
        pytest.skip(f"llama.cpp oracle unavailable: {str(e).splitlines()[0]}")


def run(args: Sequence[str], timeout: float = 1800, verbose: bool = False) -> str:
    """Runs the driver with `args` and returns its stdout (text)."""
    cmd = [driver_path(), *map(str, args)] + (["--verbose"] if verbose else [])
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise OracleError(f"{' '.join(cmd)} exited with {r.returncode}:\n"
                          f"{r.stderr.decode('utf-8', 'replace')[-4000:]}")
    return r.stdout.decode("utf-8", "replace")


def _kv_lines(out: str) -> dict[str, str]:
    d = {}
    for line in out.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            d[k.strip()] = v
    return d


def _ids(tokens: Iterable[int]) -> str:
    s = ",".join(str(int(t)) for t in tokens)
    if not s:
        raise ValueError("empty token list")
    return s


def read_logits_file(path: str) -> np.ndarray:
    """Reads a driver logits file -> float32 array [n_rows, n_vocab]."""
    with open(path, "rb") as f:
        head = f.read(16)
        if len(head) != 16 or head[:4] != LOGITS_MAGIC:
            raise ValueError(f"{path}: not a llama_oracle logits file")
        version, rows, vocab = np.frombuffer(head[4:], dtype="<u4")
        if version != 1:
            raise ValueError(f"{path}: unsupported logits file version {version}")
        data = np.frombuffer(f.read(), dtype="<f4")
    if data.size != int(rows) * int(vocab):
        raise ValueError(f"{path}: truncated ({data.size} floats, expected {rows}x{vocab})")
    return data.reshape(int(rows), int(vocab)).copy()


def _common(threads, kv, batch, ctx, fa) -> list[str]:
    a = ["--threads", str(threads), "--kv", kv]
    if batch is not None:
        a += ["--batch", str(batch)]
    if ctx is not None:
        a += ["--ctx", str(ctx)]
    if fa is not None:
        a += ["--fa", fa]
    return a


def llama_logits(model: str, tokens: Sequence[int], all: bool = False, threads: int = 2, kv: str = "f16",
                 batch: int | None = None, ctx: int | None = None, fa: str | None = None) -> np.ndarray:
    """Logits of llama.cpp evaluating `tokens` from position 0 (one llama_decode call, or
    chunks of `batch`). Returns float32 [vocab] (last position) or [n_tokens, vocab] with
    all=True. kv: KV-cache type, "f16" (llama.cpp's default) or "f32". fa: flash attention
    "auto" (default) / "on" / "off"."""
    with tempfile.TemporaryDirectory(prefix="llama_oracle_") as d:
        out = os.path.join(d, "logits.bin")
        run(["logits", model, "--tokens", _ids(tokens), "--out", out,
             *(["--all"] if all else []), *_common(threads, kv, batch, ctx, fa)])
        a = read_logits_file(out)
    return a if all else a[0]


def llama_teacher(model: str, tokens: Sequence[int], **kw) -> np.ndarray:
    """Teacher-forced logits of every position: float32 [n_tokens, vocab]."""
    return llama_logits(model, tokens, all=True, **kw)


def llama_greedy(model: str, prompt: Sequence[int], n: int, threads: int = 2, kv: str = "f16",
                 batch: int | None = None, ctx: int | None = None, fa: str | None = None,
                 return_logits: bool = False, stop_eog: bool = False):
    """Greedy decoding (argmax, ties to the lowest id), one token per llama_decode after the
    prompt. Returns the generated ids, or (ids, logits [steps, vocab]) with return_logits —
    row i is the distribution from which ids[i] was chosen."""
    with tempfile.TemporaryDirectory(prefix="llama_oracle_") as d:
        out = os.path.join(d, "greedy.bin")
        args = ["greedy", model, "--tokens", _ids(prompt), "--n", str(n), *_common(threads, kv, batch, ctx, fa)]
        if return_logits:
            args += ["--out", out]
        if stop_eog:
            args.append("--stop-eog")
        stdout = run(args)
        ids = [int(x) for x in stdout.strip().split(",") if x.strip()]
        if return_logits:
            return ids, read_logits_file(out)
    return ids


def llama_tokenize(model: str, text: str | bytes, special: bool = False, add_special: bool = False) -> list[int]:
    """llama.cpp's tokenization of `text` (UTF-8). special: parse special tokens such as
    <|im_start|>; add_special: add BOS/EOS if the vocabulary asks for it."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    with tempfile.TemporaryDirectory(prefix="llama_oracle_") as d:
        path = os.path.join(d, "text.txt")
        with open(path, "wb") as f:
            f.write(data)
        args = ["tokenize", model, "--text-file", path]
        if special:
            args.append("--special")
        if add_special:
            args.append("--add-special")
        out = run(args).strip()
    return [int(x) for x in out.split(",") if x.strip()]


def llama_tokenize_many(model: str, texts: Sequence[str | bytes], special: bool = False,
                        add_special: bool = False) -> list[list[int]]:
    """Tokenizes many texts with one driver run (the vocabulary is loaded once)."""
    blobs = [t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in texts]
    if any(b"\0" in b for b in blobs):
        raise ValueError("texts containing NUL bytes: use llama_tokenize one by one")
    if not blobs:
        return []
    with tempfile.TemporaryDirectory(prefix="llama_oracle_") as d:
        path = os.path.join(d, "texts.bin")
        with open(path, "wb") as f:
            f.write(b"".join(b + b"\0" for b in blobs))
        args = ["tokenize", model, "--text-file", path, "--split-nul"]
        if special:
            args.append("--special")
        if add_special:
            args.append("--add-special")
        lines = run(args).split("\n")
    if len(lines) != len(blobs) + 1 or lines[-1] != "":
        raise OracleError(f"tokenize --split-nul: expected {len(blobs)} lines, got {len(lines) - 1}")
    return [[int(x) for x in line.split(",") if x] for line in lines[:-1]]


def llama_detokenize(model: str, tokens: Sequence[int], special: bool = False) -> bytes:
    cmd = [driver_path(), "detokenize", model, "--tokens", _ids(tokens)] + (["--special"] if special else [])
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    if r.returncode != 0:
        raise OracleError(r.stderr.decode("utf-8", "replace")[-4000:])
    return r.stdout


def llama_quantize(src: str, dst: str, qtype: str, threads: int = 2, pure: bool = False,
                   allow_requantize: bool = False, embd_type: str | None = None,
                   output_type: str | None = None, imatrix_ones: bool = False) -> str:
    """Quantizes a GGUF with llama_model_quantize. qtype: q8_0, q4_0, q4_1, q5_0, q5_1,
    q4_k_m, q4_k_s, q5_k_m, q5_k_s, q6_k, q2_k, q3_k_s/m/l, iq4_nl, iq4_xs, iq3_xs, iq3_m,
    iq2_xs, iq2_m, f16, bf16, ... pure: every matrix gets `qtype` (no per-tensor mixing).
    embd_type/output_type: ggml type names (e.g. "q8_0") for token_embd / output.
    imatrix_ones: a uniform importance matrix (all 1.0), which llama.cpp requires for
    IQ2_XXS/IQ2_XS/IQ2_S/IQ3_XXS matrices (iq2_xs, iq2_m, q2_k_s files)."""
    args = ["quantize", src, dst, qtype, "--threads", str(threads)]
    if pure:
        args.append("--pure")
    if allow_requantize:
        args.append("--allow-requantize")
    if embd_type:
        args += ["--embd-type", embd_type]
    if output_type:
        args += ["--output-type", output_type]
    if imatrix_ones:
        args.append("--imatrix-ones")
    run(args)
    return dst


def llama_info(model: str, meta: bool = False, vocab_only: bool = False) -> dict[str, str]:
    """What llama.cpp reports about a file (n_vocab, n_embd, n_layer, n_head, n_head_kv,
    n_ctx_train, ftype, bos/eos ...); with meta=True also every metadata key as meta.<key>."""
    args = ["info", model]
    if meta:
        args.append("--meta")
    if vocab_only:
        args.append("--vocab-only")
    return _kv_lines(run(args))


def dequant_with(runner, type_name: str, blocks: bytes) -> np.ndarray:
    """`dequant TYPE IN OUT` through `runner` (a function taking the argument list): the
    oracle's run(), or a tool with the same sub-command (tests/quant/quant_tool)."""
    with tempfile.TemporaryDirectory(prefix="quant_") as d:
        src, dst = os.path.join(d, "in.bin"), os.path.join(d, "out.f32")
        with open(src, "wb") as f:
            f.write(blocks)
        runner(["dequant", type_name, src, dst])
        return np.fromfile(dst, dtype="<f4")


def quantize_rows_with(runner, type_name: str, x: np.ndarray) -> bytes:
    """`quantize-rows TYPE N_PER_ROW IN OUT` through `runner` on the rows of the float32
    matrix x [rows, n_per_row]; returns the blocks, row after row."""
    x = np.ascontiguousarray(x, dtype="<f4")
    if x.ndim != 2:
        raise ValueError("x must be [rows, n_per_row]")
    with tempfile.TemporaryDirectory(prefix="quant_") as d:
        src, dst = os.path.join(d, "in.f32"), os.path.join(d, "out.bin")
        x.tofile(src)
        runner(["quantize-rows", type_name, str(x.shape[1]), src, dst])
        with open(dst, "rb") as f:
            return f.read()


def llama_dequant(type_name: str, blocks: bytes) -> np.ndarray:
    """ggml's to_float for `blocks` (whole blocks of the ggml type `type_name`, e.g. "q4_K"):
    float32 values, bit for bit what llama.cpp computes."""
    return dequant_with(run, type_name, blocks)


def llama_quantize_rows(type_name: str, x: np.ndarray) -> bytes:
    """ggml_quantize_chunk (no importance matrix, as llama-quantize without --imatrix) on
    the rows of the float32 matrix x [rows, n_per_row]."""
    return quantize_rows_with(run, type_name, x)


# --------------------------------------------------------------------------- bundle files
def bundle_show(path: str) -> bytes:
    """A file of the llama.cpp release the oracle is built from (`git show HEAD:path` in the
    bare clone of node-llama-cpp's gitRelease.bundle), e.g. "models/ggml-vocab-qwen2.gguf"."""
    driver_path()  # makes sure the bare clone exists
    gitdir = os.path.join(oracle_dir(), "llama.git")
    r = subprocess.run(["git", f"--git-dir={gitdir}", "show", f"HEAD:{path}"], capture_output=True, timeout=600)
    if r.returncode != 0:
        raise OracleError(f"git show HEAD:{path}: {r.stderr.decode('utf-8', 'replace')}")
    return r.stdout


def bundle_file(path: str) -> str:
    """Like bundle_show, but extracted once to <oracle dir>/bundle-files/<path>; returns that path."""
    dst = os.path.join(oracle_dir(), "bundle-files", path)
    if not os.path.exists(dst):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        data = bundle_show(path)
        tmp = dst + f".tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, dst)
    return dst


def vocab_test_vectors(name: str = "qwen2") -> list[tuple[str, list[int]]]:
    """llama.cpp's tokenizer test vectors models/ggml-vocab-<name>.gguf.inp/.out as
    [(text, ids)]: inputs are separated by "\\n__ggml_vocab_test__\\n", outputs are one line
    of space-separated ids per input."""
    sep = "\n__ggml_vocab_test__\n"
    inp = bundle_show(f"models/ggml-vocab-{name}.gguf.inp").decode("utf-8")
    out = bundle_show(f"models/ggml-vocab-{name}.gguf.out").decode("utf-8")
    texts = inp.split(sep)
    lines = out.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(texts) == len(lines) + 1 and texts[-1] == "":
        texts.pop()
    if len(texts) != len(lines):
        raise ValueError(f"vocab test vectors: {len(texts)} inputs but {len(lines)} outputs")
    return [(t, [int(x) for x in l.split()]) for t, l in zip(texts, lines)]
