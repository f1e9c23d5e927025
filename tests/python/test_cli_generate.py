"""The `qwen run` and `qwen chat` commands end to end on a tiny synthetic model with the real
Qwen2.5 tokenizer and chat template: greedy text identical to llama.cpp's on the same file,
and the chat REPL driven in a real terminal (tmux): streaming, history reuse across turns,
/reset, Ctrl-C stopping an answer without quitting, /exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import numpy as np
import pytest

import libqwen
import oracles

PROMPT = "<|im_start|>user\nWrite a haiku about caches.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    oracles.require_llama()
    gguf, _ = libqwen.synth(str(tmp_path_factory.mktemp("cli")), "tiny", "f32", hf=False, seed=7)
    return gguf


def test_run_greedy_text_matches_our_eval_and_llama_cpp(tiny):
    r = subprocess.run([libqwen.cli_path(), "run", "-m", tiny, "-p", PROMPT, "--greedy", "-n", "48",
                        "--ignore-eos", "-t", "2"], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    ours = r.stdout.decode()
    assert ours.endswith("\n")
    ours = ours[:-1]
    assert "[prompt:" in r.stderr.decode() and "max tokens" in r.stderr.decode()

    # The streamed text is exactly the text of the tokens an explicit eval + argmax loop picks
    # (detokenized by llama.cpp, with invalid UTF-8 replaced as Python does).
    prompt_ids = oracles.llama_tokenize(tiny, PROMPT, special=True)
    ids, _ = libqwen.greedy(tiny, prompt_ids, 48)
    assert ours == oracles.llama_detokenize(tiny, ids).decode("utf-8", errors="replace")

    # llama.cpp picks the same tokens; where the two first differ (if they do), llama.cpp's own
    # top-2 margin must be within its rounding error (it rounds activations to 16 bits, ~2e-3
    # of the largest logit): a clear-margin disagreement would be a bug.
    theirs, logits = oracles.llama_greedy(tiny, prompt_ids, 48, return_logits=True)
    for i, (a, b) in enumerate(zip(ids, theirs)):
        if a != b:
            row = logits[i]
            top2 = np.sort(row)[-2:]
            assert top2[1] - top2[0] < 1e-2 * np.abs(row).max(), f"clear-margin disagreement at step {i}"
            break


def test_run_reports_errors_in_one_line(tmp_path):
    r = subprocess.run([libqwen.cli_path(), "run", "-m", str(tmp_path / "missing.gguf"), "-p", "hi"],
                       capture_output=True, timeout=60)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "missing.gguf" in err and "QWEN_ERR_IO" in err and err.count("\n") == 1
    r = subprocess.run([libqwen.cli_path(), "run", "-m", "x", "-p", "hi", "--temp", "hot"], capture_output=True)
    assert r.returncode == 2 and "--temp" in r.stderr.decode()


class Tmux:
    """One detached tmux session running a command; reads the screen with capture-pane."""

    def __init__(self, name: str, cmd: list[str]):
        self.name = name
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        line = " ".join(subprocess.list2cmdline([c]) for c in cmd) + "; echo EXITED $?; sleep 30"
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "220", "-y", "60", line], check=True)

    def screen(self) -> str:
        r = subprocess.run(["tmux", "capture-pane", "-p", "-S", "-2000", "-t", self.name], capture_output=True)
        return r.stdout.decode(errors="replace")

    def send(self, *keys: str):
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, pred, timeout: float = 120) -> str:
        end = time.time() + timeout
        while time.time() < end:
            s = self.screen()
            if pred(s):
                return s
            time.sleep(0.2)
        raise AssertionError(f"timed out; screen:\n{self.screen()}")

    def close(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def prompts_on(screen: str) -> int:
    return sum(1 for line in screen.splitlines() if line.startswith("> ") or line == ">")


@pytest.mark.skipif(shutil.which("tmux") is None and not os.environ.get("CI"), reason="tmux is not installed")
def test_chat_repl_in_a_terminal(tiny):
    t = Tmux("qwen-chat-test", [libqwen.cli_path(), "chat", "-m", tiny, "--greedy", "-n", "12", "--stats",
                                "-t", "2"])
    try:
        t.wait_for(lambda s: prompts_on(s) >= 1)
        t.send("Hello there", "Enter")
        s = t.wait_for(lambda s: s.count("[prompt:") >= 1 and prompts_on(s) >= 2)
        assert "(0 cached)" in s
        t.send("And a second question", "Enter")
        s = t.wait_for(lambda s: s.count("[prompt:") >= 2 and prompts_on(s) >= 3)
        # The second turn reuses the first one from the cache.
        second = [line for line in s.splitlines() if line.startswith("[prompt:")][1]
        cached = int(second.split("(")[1].split(" cached")[0])
        assert cached > 20, second
        t.send("/reset", "Enter")
        t.wait_for(lambda s: "(conversation cleared)" in s)
        t.send("/exit", "Enter")
        assert "EXITED 0" in t.wait_for(lambda s: "EXITED" in s)
    finally:
        t.close()


@pytest.mark.skipif(shutil.which("tmux") is None and not os.environ.get("CI"), reason="tmux is not installed")
def test_ctrl_c_stops_the_answer_not_the_chat(tiny):
    t = Tmux("qwen-chat-ctrlc", [libqwen.cli_path(), "chat", "-m", tiny, "--greedy", "-n", "0", "--ignore-eos",
                                 "-c", "4096", "-t", "1"])
    try:
        t.wait_for(lambda s: prompts_on(s) >= 1)
        t.send("Talk forever", "Enter")
        time.sleep(1.5)
        t.send("C-c")
        t.wait_for(lambda s: "(stopped)" in s and prompts_on(s) >= 2)
        t.send("Still here?", "Enter")
        time.sleep(0.5)
        t.send("C-c")
        t.wait_for(lambda s: s.count("(stopped)") >= 2 and prompts_on(s) >= 3)
        t.send("C-c")  # at the prompt: quits
        assert "EXITED 0" in t.wait_for(lambda s: "EXITED" in s)
    finally:
        t.close()


def test_info_and_tokenize(tiny):
    out = libqwen.run(["info", tiny, "--tensors"])
    assert "GGUF v3" in out and "vocab 151936" in out and "layers 2" in out
    assert "token_embd.weight" in out and "tied (LM head = token_embd)" in out
    text = "<|im_start|>user\nHéllo, 世界! 123<|im_end|>"
    ids = libqwen.run(["tokenize", "-m", tiny, "-p", text, "--special", "--ids"]).strip()
    assert [int(x) for x in ids.split(",")] == oracles.llama_tokenize(tiny, text, special=True)
    lines = libqwen.run(["tokenize", "-m", tiny, "-p", "a\nb"]).splitlines()
    assert [line.split()[-1] for line in lines] == ["a", "\\n", "b"]


def test_bench_reports_every_test_and_both_engines_agree_on_the_schema(tiny):
    """`qwen bench --json` and the llama.cpp driver's `bench` (what bench/compare.py pairs up)
    print the same tests, one sample per repetition; bad options are usage errors."""
    import json

    ours = [json.loads(line) for line in libqwen.run(
        ["bench", "-m", tiny, "-p", "8", "-n", "4", "-d", "0,5", "-s", "1,3", "-r", "2", "-t", "2", "--json"]).splitlines()]
    assert [(r["test"], r["depth"]) for r in ours] == [
        ("pp8", 0), ("tg4", 0), ("pp8", 5), ("tg4", 5), ("tg4x3", 0), ("tg4x3", 5)]
    assert all(r["engine"] == "libqwen" and len(r["tok_s"]) == 2 and min(r["tok_s"]) > 0 for r in ours)
    out = oracles.run(["bench", tiny, "--pp", "8", "--tg", "4", "--depth", "5", "--seqs", "3", "--reps", "2"])
    theirs = [json.loads(line) for line in out.splitlines()]
    assert [(r["test"], r["depth"]) for r in theirs] == [("pp8", 5), ("tg4", 5), ("tg4x3", 5)]
    table = libqwen.run(["bench", "-m", tiny, "-p", "8", "-n", "0", "-r", "1"])
    assert "| pp8 |" in table and "tg" not in table
    # --latency: one line of load / time-to-first-token samples and the peak RSS, the same
    # shape from both engines, on the same 100-token chat prompt (same first greedy token)
    lat = [json.loads(libqwen.run(["bench", "-m", tiny, "--latency", "-r", "2", "-t", "2", "--ctx", "256", "--json"])),
           json.loads(oracles.run(["bench", tiny, "--mode", "latency", "--reps", "2", "--ctx", "256"]))]
    assert [r["engine"] for r in lat] == ["libqwen", "llama.cpp"]
    for r in lat:
        assert r["test"] == "latency" and r["n_ctx"] == 256 and r["prompt_tokens"] == 100
        assert len(r["load_s"]) == len(r["ttft_ms"]) == 2 and min(r["load_s"] + r["ttft_ms"]) > 0
        assert r["peak_rss_mib"] > os.path.getsize(tiny) / 2**20 / 2  # the weights were read
    assert lat[0].keys() == lat[1].keys() and lat[0]["first_token"] == lat[1]["first_token"]
    for bad in (["-s", "0"], ["-d", "x"], ["-r", "0"], ["--ctx", "256"], ["--latency", "--ctx", "1"]):
        r = subprocess.run([libqwen.cli_path(), "bench", "-m", tiny, *bad], capture_output=True, timeout=60)
        assert r.returncode == 2, bad
