"""End to end per quantized file type (issue #5): the full-size synthetic Qwen2.5-0.5B (F16,
real tokenizer) quantized by llama.cpp's own llama_model_quantize to each published type,
then ~300 positions teacher-forced through both engines (llama.cpp with an F32 KV cache and
no flash attention, we with an F32 KV cache), comparing every position's logits:
max |ours - llama.cpp|, the lowest cosine similarity of a position, and the top-1 token
wherever llama.cpp's top-1/top-2 margin exceeds the max-abs bound (there no error within the
bound can reorder the two; below it either choice is right).

Tolerances, and why (the logits of this model span about +-17):
- The arithmetic. For weight types we multiply as ggml does (activations rounded to Q8_0/Q8_K
  codes exactly as ggml's quantize_row_q8_*, integer block sums, one float multiply-add per
  block), the only difference left is the order of float32 additions, ~1e-7 relative, which
  on the F32 model stays below 2e-5 relative after 24 layers (test_model_parity.py). With
  quantized activations it does not stay small: before every matrix each activation is
  rounded to an 8-bit code, and one whose float32 value lies within that 1e-7 of a rounding
  boundary flips to the neighbouring code in one engine, an error of one code step (~0.8% of
  its block's max). The next layer's inputs then differ by ~1e-3, which flips many codes
  there, and so on: after a few layers the two engines carry independent rounding noise, the
  size of the activation quantization itself. The tiny model of test_quant_parity.py stays
  bit-identical because no flip ever starts; in the full one, over 300 positions, some do.
  llama.cpp shows the same against itself: rounding K and V to F16 (kv f16 vs f32) moves its
  logits by 0.008 on the decoded (F32) weights of a Q8_0 file but by 0.40 on the Q8_0 file,
  from the first position on. The "noise" column of the table is exactly that: max |llama.cpp
  kv f16 - llama.cpp kv f32| on the same file. We measured ours vs llama.cpp at 0.89-1.14x
  of it for every type, integer kernels or not.
- So the bound is that noise, not float32 rounding: max abs error <= 2.0 (measured 1.04-1.54,
  about 6-9% of the logit range, at the worst of 300 x 151936 logits), cosine similarity of
  every position >= 0.99 (measured 0.9945-0.9974), and ours within NOISE_RATIO = 1.5 times
  llama.cpp's own noise on the same file (the self-calibrating check: a real kernel bug, e.g.
  one wrong block, shows as a multiple of it). Top-1: identical wherever llama.cpp's top-1 /
  top-2 margin exceeds the max-abs bound (few positions at this bound: a margin of 2 logits is
  rare on a random model); over all positions the top-1 agrees at 80-87% (asserted >= 70%).
- Every matrix type of these files is multiplied with integer dot products on quantized
  activations (Q4_1 and Q5_1 only on AVX-512 VNNI; elsewhere they are float products of the
  dequantized weights, well within the same bound). Before lib/kernels had integer kernels for
  Q2_K, Q3_K, IQ4_XS, IQ3_* and IQ2_* (float products there, where llama.cpp rounds the
  activations), those files measured 1.22-1.47 max abs and cosine >= 0.995: the noise above
  dominates either way, so the one bound serves every type (the tiny-model test is the one that
  sees exact arithmetic: bit-identical logits).

By default (CI: 2 cores) two types run, covering the 32-element and the K-quant kernels
(Q4_K_M: Q5_0, Q4_K, Q6_K, Q8_0; Q2_K: Q3_K, Q4_0, Q5_0, Q8_0), about 50 s each
after the shared F16 model (conftest.py). The IQ files are left out because llama.cpp alone
takes 70-100 s to write each (ggml's IQ4_NL search runs on every 896-wide matrix of them).
QWEN_E2E_TYPES=all runs every type (25 minutes), QWEN_E2E_TYPES=Q8_0,IQ3_M a list.
With -s a table row per type: | type | max abs (worst position) | noise | min cosine |
top-1 agreeing where margin > bound | top-1 agreeing anywhere | max |logit| | matrix types |.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import libqwen
import oracles
from test_quant_parity import gguf_tensor_types

# (max abs error, min cosine similarity) for every type; see the docstring.
BOUND = (2.0, 0.99)
NOISE_RATIO = 1.5
MIN_TOP1_AGREEMENT = 0.7

# file type -> oracles.llama_quantize options. The table printed with -s lists each file's
# matrix types.
TYPES: dict[str, dict] = {
    "Q8_0": {},
    "Q6_K": {},
    "Q5_K_M": {},
    "Q5_K_S": {},
    "Q5_0": {},
    "Q4_K_M": {},
    "Q4_K_S": {},
    "Q4_0": {},
    "IQ4_NL": {},
    "IQ4_XS": {},
    "Q3_K_S": {},
    "Q3_K_M": {},  # no Q3_K matrix at all (896-wide rows fall back to other types)
    "Q3_K_L": {},  # likewise
    "IQ3_XS": {},
    "IQ3_M": {},
    "Q2_K": {},
    # llama.cpp refuses these without an importance matrix: a uniform one (all 1.0) weighs
    # every column alike, as the other types' quantizers do without one.
    "IQ2_XS": {"imatrix_ones": True},
    "IQ2_M": {"imatrix_ones": True},
    # the "q8_0 embeddings and output" variant of the published Q4_K_M (on this tied model the
    # same tensors as Q4_K_M, whose embedding is Q8_0 already: it checks the options reach llama.cpp)
    "Q4_K_M+q8": {"embd_type": "q8_0", "output_type": "q8_0"},
}
# The 32-element and K-quant kernels, each file cheap to quantize (see the docstring).
DEFAULT_TYPES = ["Q4_K_M", "Q2_K"]

GGML_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K", 11: "Q3_K",
              12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 20: "IQ4_NL",
              21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 30: "BF16"}

TEXTS = [
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nExplain in two sentences why the sky is blue.<|im_end|>\n<|im_start|>assistant\n"
    "Sunlight is scattered by the molecules of the air, and blue light, with its shorter wavelength, is "
    "scattered much more than red. So wherever we look away from the sun, scattered blue light reaches us.<|im_end|>\n",
    "def fib(n):\n    \"\"\"The n-th Fibonacci number.\"\"\"\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\n"
    "for i in range(10):\n    print(i, fib(i))\n",
    "Der schnelle braune Fuchs springt über den faulen Hund. 快速的棕色狐狸跳过了懒狗。"
    "Le vif renard brun saute par-dessus le chien paresseux. Быстрая бурая лиса перепрыгивает через ленивую собаку.",
    "| type | bits | RMSE |\n|------|------|------|\n| Q4_0 | 4.5 | 0.0123 |\n| Q8_0 | 8.5 | 0.0004 |\n"
    "Numbers: 3.14159, 2.71828, 1e-9, 0xDEADBEEF, 1,234,567.89 -- and emoji: 🙂🚀.",
]
N_POSITIONS = 300


def selected_types() -> list[str]:
    want = os.environ.get("QWEN_E2E_TYPES", "").strip()
    if not want:
        return DEFAULT_TYPES
    if want.lower() == "all":
        return list(TYPES)
    names = [t.strip() for t in want.split(",") if t.strip()]
    unknown = [t for t in names if t not in TYPES]
    if unknown:
        raise ValueError(f"QWEN_E2E_TYPES: unknown types {unknown}; known: {', '.join(TYPES)}")
    return names


@pytest.fixture(scope="module")
def model(tmp_path_factory, full_f16):
    """The session's full-size F16 synthetic model (conftest.py), a folder for the quantized
    files, and the teacher-forced token sequence."""
    oracles.require_llama()
    d = str(tmp_path_factory.mktemp("quant_e2e"))
    gguf, _ = full_f16
    tokens: list[int] = []
    for text in oracles.llama_tokenize_many(gguf, TEXTS, special=True):
        tokens += text
    while len(tokens) < N_POSITIONS:  # repeat: the second pass attends to a long context
        tokens += tokens
    return d, gguf, tokens[:N_POSITIONS]


def compare(ours: np.ndarray, theirs: np.ndarray, margin_min: float) -> dict:
    o, t = ours.astype(np.float64), theirs.astype(np.float64)
    cos = np.sum(o * t, axis=1) / (np.linalg.norm(o, axis=1) * np.linalg.norm(t, axis=1))
    top2 = np.partition(t, -2, axis=1)[:, -2:]
    decided = np.abs(top2[:, 1] - top2[:, 0]) > margin_min
    agree = np.argmax(o, axis=1) == np.argmax(t, axis=1)
    err = np.max(np.abs(o - t), axis=1)
    return {"max_abs": float(np.max(err)), "min_cos": float(np.min(cos)), "worst_pos": int(np.argmax(err)),
            "decided": int(decided.sum()), "agree_decided": int((agree & decided).sum()),
            "agree_all": int(agree.sum()), "n": len(t), "logit_range": float(np.max(np.abs(t)))}


@pytest.mark.parametrize("ftype", selected_types())
def test_teacher_forced_logits_match_llama_cpp(model, ftype):
    d, src, tokens = model
    extra, (tol_abs, tol_cos) = TYPES[ftype], BOUND
    qtype = ftype.split("+")[0].lower()
    dst = os.path.join(d, f"{ftype}.gguf")
    oracles.llama_quantize(src, dst, qtype, **extra)
    try:
        types = gguf_tensor_types(dst)
        matrices = sorted({GGML_TYPES.get(t, str(t)) for n, t in types.items()
                           if "norm" not in n and not n.endswith(".bias")})
        theirs = oracles.llama_teacher(dst, tokens, kv="f32", fa="off")
        # llama.cpp against itself after a small float perturbation (K and V rounded to F16):
        # the size of the activation-rounding noise a perturbation unleashes (docstring).
        noise = float(np.max(np.abs(oracles.llama_teacher(dst, tokens, kv="f16", fa="off") - theirs)))
        ours = libqwen.logits(dst, tokens, all=True, kv="f32")
    finally:
        os.remove(dst)  # ~0.4-0.5 GB each
    assert ours.shape == theirs.shape == (N_POSITIONS, 151936)
    r = compare(ours, theirs, tol_abs)
    print(f"\n| {ftype:9s} | {r['max_abs']:.3f} (pos {r['worst_pos']}) | {noise:.3f} | {r['min_cos']:.5f} | "
          f"{r['agree_decided']}/{r['decided']} | {r['agree_all']}/{r['n']} | {r['logit_range']:.2f} | "
          f"{' '.join(matrices)} |")
    assert r["max_abs"] <= tol_abs, f"{ftype}: max abs error {r['max_abs']:.3e} > {tol_abs}"
    assert r["min_cos"] >= tol_cos, f"{ftype}: min cosine {r['min_cos']:.7f} < {tol_cos}"
    assert r["agree_decided"] == r["decided"], \
        f"{ftype}: top-1 differs at {r['decided'] - r['agree_decided']} positions with margin > {tol_abs}"
    # no further from llama.cpp than llama.cpp is from itself after a 1e-3 perturbation
    assert r["max_abs"] <= NOISE_RATIO * noise, f"{ftype}: {r['max_abs']:.3f} > {NOISE_RATIO} x {noise:.3f}"
    assert r["agree_all"] >= MIN_TOP1_AGREEMENT * r["n"], f"{ftype}: top-1 agrees at {r['agree_all']} of {r['n']}"
