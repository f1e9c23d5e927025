"""pytest setup for tests/python: makes the helper modules importable and provides a builder
for tiny random Qwen2 models (pure NumPy: config.json + model.safetensors, optionally GGUF)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from reference_qwen2 import save_safetensors  # noqa: E402

TINY_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 256,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
    # fields a runtime ignores, present in the real config
    "sliding_window": 4096,
    "use_sliding_window": False,
    "max_window_layers": 2,
    "use_cache": True,
    "initializer_range": 0.02,
    "attention_dropout": 0.0,
    "bos_token_id": 11,
    "eos_token_id": 11,
    "hidden_act": "silu",
}


def tiny_qwen2_tensors(config: dict, seed: int = 0, untied: bool = False) -> dict[str, np.ndarray]:
    """Random weights in Hugging Face naming/layout. Scales are chosen so that activations stay
    O(1) and attention is far from uniform (so RoPE/causality/GQA errors show up in logits)."""
    rng = np.random.default_rng(seed)
    d, ff, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    nh, nkv = config["num_attention_heads"], config["num_key_value_heads"]
    hd = d // nh

    def lin(out, inp, gain=1.0):
        return (rng.standard_normal((out, inp)) * gain / np.sqrt(inp)).astype(np.float32)

    def vec(n, scale):
        return (rng.standard_normal(n) * scale).astype(np.float32)

    t = {"model.embed_tokens.weight": rng.standard_normal((v, d)).astype(np.float32)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = (1.0 + vec(d, 0.2)).astype(np.float32)
        t[p + "self_attn.q_proj.weight"] = lin(nh * hd, d, 2.0)
        t[p + "self_attn.q_proj.bias"] = vec(nh * hd, 0.5)
        t[p + "self_attn.k_proj.weight"] = lin(nkv * hd, d, 2.0)
        t[p + "self_attn.k_proj.bias"] = vec(nkv * hd, 0.5)
        t[p + "self_attn.v_proj.weight"] = lin(nkv * hd, d)
        t[p + "self_attn.v_proj.bias"] = vec(nkv * hd, 0.2)
        t[p + "self_attn.o_proj.weight"] = lin(d, nh * hd)
        t[p + "post_attention_layernorm.weight"] = (1.0 + vec(d, 0.2)).astype(np.float32)
        t[p + "mlp.gate_proj.weight"] = lin(ff, d)
        t[p + "mlp.up_proj.weight"] = lin(ff, d)
        t[p + "mlp.down_proj.weight"] = lin(d, ff)
    t["model.norm.weight"] = (1.0 + vec(d, 0.2)).astype(np.float32)
    if untied:
        t["lm_head.weight"] = lin(v, d, 4.0)
    return t


def write_hf_folder(folder: str, config: dict, tensors: dict[str, np.ndarray], dtype: str = "F32",
                    shards: int = 1) -> str:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    if shards == 1:
        save_safetensors(os.path.join(folder, "model.safetensors"), tensors, dtype, {"format": "pt"})
        return folder
    names = list(tensors)
    weight_map = {}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[s::shards]}
        save_safetensors(os.path.join(folder, fname), part, dtype, {"format": "pt"})
        weight_map.update({n: fname for n in part})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)
    return folder


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    return dict(TINY_CONFIG)


@pytest.fixture(scope="session")
def full_f16(tmp_path_factory) -> tuple[str, str]:
    """The full-size synthetic Qwen2.5-0.5B in F16 (GGUF, and the same weights as a Hugging
    Face folder), written once per session: ~1 GB each and ~45 s on 2 cores, shared by
    test_model_parity.py and test_quant_e2e.py."""
    import libqwen

    return libqwen.synth(str(tmp_path_factory.mktemp("full_f16")), "full", "f16", hf=True)
