"""The Python package `qwen` (bindings/python) on a tiny synthetic model with the real Qwen2.5
tokenizer and chat template: it must give exactly what the C library gives through the `qwen`
command, llama.cpp's tokenizer and the official Jinja template.

The built package is found through $QWEN_PYTHON_PATH, else build/release/bindings/python; when
it is not built the tests are skipped (failed under CI=1)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import libqwen
import oracles

PROMPT = "<|im_start|>user\nWrite a haiku about caches.<|im_end|>\n<|im_start|>assistant\n"
N = 40


def _import_qwen():
    path = os.environ.get("QWEN_PYTHON_PATH") or os.path.join(libqwen.REPO, "build/release/bindings/python")
    if not os.path.isdir(os.path.join(path, "qwen")):
        what = f"the qwen Python package is not built in {path} (cmake --build build/release --target qwen_python)"
        if os.environ.get("CI"):
            pytest.fail(what)
        pytest.skip(what)
    if path not in sys.path:
        sys.path.insert(0, path)
    import qwen

    return qwen


@pytest.fixture(scope="module")
def qwen():
    return _import_qwen()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    oracles.require_llama()
    folder = str(tmp_path_factory.mktemp("binding"))
    gguf, _ = libqwen.synth(folder, "tiny", "f32", hf=False, seed=7)
    return gguf, folder


@pytest.fixture(scope="module")
def model(qwen, tiny):
    m = qwen.Model(tiny[0], n_ctx=512, threads=2)
    yield m
    m.close()


def cli_greedy(path: str, prompt: str, n: int) -> str:
    r = subprocess.run([libqwen.cli_path(), "run", "-m", path, "-p", prompt, "--greedy", "-n", str(n),
                        "--ignore-eos", "-t", "2", "-c", "512"], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out = r.stdout.decode()
    assert out.endswith("\n")
    return out[:-1]


def test_load_and_properties(qwen, model):
    assert qwen.__version__.count(".") == 2
    assert model.n_vocab >= 151665 and model.n_layer > 0 and model.n_embd > 0
    assert model.n_ctx == 512 and model.n_ctx_train >= 512
    assert model.eos_token == 151645  # <|im_end|>


def test_tokenize_matches_llama_cpp_and_round_trips(model, tiny):
    texts = ["Hello, world!", "  naïve café  ☕ 123456 ", "<|im_start|>user\nhi<|im_end|>", "日本語のテキスト"]
    for text in texts:
        for special in (False, True):
            ids = model.tokenize(text, special=special)
            assert ids == oracles.llama_tokenize(tiny[0], text, special=special), (text, special)
            assert model.detokenize(ids) == text
    ids = model.tokenize("<|im_start|>hi<|im_end|>", special=True)
    assert ids[0] == 151644 and ids[-1] == 151645
    assert model.detokenize(ids, skip_special=True) == "hi"


def test_generate_greedy_equals_the_cli(model, tiny):
    expected = cli_greedy(tiny[0], PROMPT, N)
    assert len(expected) > 0
    assert model.generate(PROMPT, N, greedy=True, ignore_eos=True) == expected
    # A second call reuses the KV cache prefix and must not change the answer.
    assert model.generate(PROMPT, N, greedy=True, ignore_eos=True) == expected
    model.reset()
    assert model.n_past == 0
    chunks = list(model.generate(PROMPT, N, greedy=True, ignore_eos=True, stream=True))
    assert len(chunks) > 1 and all(isinstance(c, str) for c in chunks)
    assert "".join(chunks) == expected


def test_stop_strings(model, tiny):
    full = model.generate(PROMPT, N, greedy=True, ignore_eos=True)
    # A stop string taken from the middle of the greedy text: the output ends right before it.
    stop = full[len(full) // 2: len(full) // 2 + 3]
    assert len(stop) == 3
    cut = full[: full.index(stop)]
    assert model.generate(PROMPT, N, greedy=True, ignore_eos=True, stop=stop) == cut
    assert "".join(model.generate(PROMPT, N, greedy=True, ignore_eos=True, stop=[stop, "\x01never"],
                                  stream=True)) == cut


def test_sampling_is_seeded(model):
    a = model.generate(PROMPT, 16, temperature=1.0, top_k=50, seed=3, ignore_eos=True)
    b = model.generate(PROMPT, 16, temperature=1.0, top_k=50, seed=3, ignore_eos=True)
    assert a == b
    outs = {model.generate(PROMPT, 16, temperature=1.5, top_k=0, top_p=1.0, seed=s, ignore_eos=True)
            for s in range(4)}
    assert len(outs) > 1  # random model, flat distribution: seeds must matter


def test_stream_stops_when_the_consumer_leaves(model):
    it = model.generate(PROMPT, 0, greedy=True, ignore_eos=True, stream=True)
    first = next(it)
    assert isinstance(first, str)
    it.close()  # joins the worker: generation must have stopped (max_tokens 0 = no limit)
    assert model.n_past < model.n_ctx
    assert threading.active_count() == 1


def test_chat_renders_like_the_official_template(model, tiny):
    from test_chat_template import Reference  # the Jinja environment transformers uses

    with open(libqwen.chat_template_file(tiny[1]), encoding="utf-8") as f:
        ref = Reference(f.read())
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Weather in Paris?"}]
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"}}}}}]
    for t in (None, tools):
        for gen in (True, False):
            assert model.render_chat(messages, t, add_generation_prompt=gen) == ref.render(messages, t, gen)
    answer = model.chat(messages, max_tokens=N, greedy=True)
    prompt = model.render_chat(messages)
    assert answer == {"role": "assistant", "content": model.generate(prompt, N, greedy=True)}
    assert "".join(model.chat(messages, max_tokens=N, greedy=True, stream=True)) == answer["content"]


def test_logits_view_without_copy(model, tiny):
    ids = model.tokenize(PROMPT, special=True)
    model.reset()
    model.generate(PROMPT, 1, greedy=True)
    view = model.logits()
    assert view.readonly and view.format == "f" and view.shape[1] == model.n_vocab
    row = np.asarray(view)[-1]
    expected = libqwen.logits(tiny[0], ids)[-1]
    assert np.allclose(row, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_errors_raise_qwen_error(qwen, model, tmp_path):
    missing = str(tmp_path / "missing.gguf")
    with pytest.raises(qwen.QwenError) as e:
        qwen.Model(missing)
    assert e.value.status == "QWEN_ERR_IO" and "missing.gguf" in str(e.value)
    with pytest.raises(qwen.QwenError) as e:
        model.detokenize([model.n_vocab + 10])
    assert e.value.status == "QWEN_ERR_INVALID_ARGUMENT" and str(model.n_vocab + 10) in str(e.value)
    with pytest.raises(qwen.QwenError) as e:
        model.generate(PROMPT, 4, top_p=1.5)
    assert e.value.status == "QWEN_ERR_INVALID_ARGUMENT" and "top_p" in str(e.value)
    with pytest.raises(qwen.QwenError) as e:
        model.render_chat([{"role": "wizard", "content": "hi"}])
    assert e.value.status == "QWEN_ERR_INVALID_ARGUMENT" and "wizard" in str(e.value)
    with pytest.raises(qwen.QwenError) as e:
        qwen.Model(__file__)
    assert e.value.status == "QWEN_ERR_FORMAT"


def test_closed_model_raises(qwen, tiny):
    with qwen.Model(tiny[0], n_ctx=64, threads=1) as m:
        assert m.tokenize("hi") == [6023]
    with pytest.raises(qwen.QwenError, match="closed"):
        m.tokenize("hi")


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_models_are_freed(qwen, tiny):
    # Each model holds its weights (a 45 MB mapping), tokenizer tables and a KV cache: 20 leaked
    # would be tens of MB. The allocator and the page cache settle within the first few loads.
    def once():
        m = qwen.Model(tiny[0], n_ctx=256, threads=1)
        m.generate(PROMPT, 2, greedy=True)
        del m
        gc.collect()

    for _ in range(10):
        once()
    before = _rss_kib()
    for _ in range(20):
        once()
    assert _rss_kib() - before < 4 * 1024


CTRL_C_SCRIPT = r"""
import os, signal, sys, threading, time
sys.path.insert(0, sys.argv[1])
import qwen
m = qwen.Model(sys.argv[2], n_ctx=4096, threads=1)
stream = sys.argv[3] == "stream"
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t = time.monotonic()
try:
    out = m.generate("Once upon a time", 0, greedy=True, ignore_eos=True, stream=stream)
    if stream:
        for _ in out:
            pass
    print("finished", m.n_past)
except KeyboardInterrupt:
    print("interrupted", m.n_past, time.monotonic() - t)
    print("again", m.generate("Once upon a time", 3, greedy=True, ignore_eos=True) != "")
"""


@pytest.mark.parametrize("mode", ["plain", "stream"])
def test_ctrl_c_stops_generation(qwen, tiny, mode):
    path = os.path.dirname(os.path.dirname(qwen.__file__))
    r = subprocess.run([sys.executable, "-c", CTRL_C_SCRIPT, path, tiny[0], mode], capture_output=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    lines = r.stdout.decode().split("\n")
    # Interrupted well before the 4096-token context filled, and the model is usable afterwards.
    assert lines[0].startswith("interrupted"), lines
    assert 0 < int(lines[0].split()[1]) < 4000
    assert lines[1] == "again True"
