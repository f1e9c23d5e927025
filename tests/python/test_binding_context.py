"""The Python package's contexts, logprobs, saved state, tool calls and structured output, on
the tiny synthetic model of test_binding.py (random weights, real tokenizer and template).

The model's text is random, so each test checks what holds for any weights: logprobs against
the logits, a restored state against the uninterrupted run, grammar-constrained answers
against the schema they were constrained to."""

from __future__ import annotations

import json
import threading
import time

import jsonschema
import numpy as np
import pytest

from test_binding import PROMPT, model, qwen, tiny  # noqa: F401 (pytest fixtures)

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}},
                   "required": ["city"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Local time of a city",
    "parameters": {"type": "object", "properties": {"utc_offset": {"type": "integer", "minimum": -12, "maximum": 14}},
                   "required": ["utc_offset"], "additionalProperties": False}}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def log_softmax(row: np.ndarray) -> np.ndarray:
    x = row.astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def test_logprobs_match_the_logits(qwen, model):
    model.reset()
    c = model.generate(PROMPT, 12, greedy=True, ignore_eos=True, logprobs=5)
    assert isinstance(c, qwen.Completion)
    assert (c.finish_reason, c.n_generated_tokens, len(c.tokens)) == ("length", 12, 12)
    assert c.text == model.generate(PROMPT, 12, greedy=True, ignore_eos=True)
    ids = [t.token for t in c.tokens]
    assert model.detokenize(ids) == c.text

    # The same positions evaluated in one pass on a fresh context: each reported logprob is
    # the log-softmax of that position's logits, and greedy took the most likely token.
    prompt = model.tokenize(PROMPT, special=True)
    with model.context(n_ctx=256) as ctx:
        ctx.eval(prompt + ids[:-1], all_logits=True)
        rows = np.asarray(ctx.logits())
        assert rows.shape == (len(prompt) + len(ids) - 1, model.n_vocab)
        for i, t in enumerate(c.tokens):
            row = rows[len(prompt) - 1 + i]
            expected = log_softmax(row)
            assert t.logprob <= 0 and abs(t.logprob - expected[t.token]) < 1e-3
            assert len(t.top) == 5 and t.top[0][0] == t.token == int(np.argmax(row))
            assert [lp for _, lp in t.top] == sorted((lp for _, lp in t.top), reverse=True)
            for tok, lp in t.top:
                assert abs(lp - expected[tok]) < 1e-3
            # qwen.logprobs over the row gives the same numbers up to the prefill/decode rounding.
            mine = qwen.logprobs(row, t.token, 5)
            assert mine.token == t.token and abs(mine.logprob - t.logprob) < 1e-3
            assert [tok for tok, _ in mine.top] == [tok for tok, _ in t.top]

    only = model.generate(PROMPT, 4, greedy=True, ignore_eos=True, logprobs=0)
    assert [t.top for t in only.tokens] == [()] * 4 and [t.token for t in only.tokens] == ids[:4]
    with pytest.raises(qwen.QwenError, match="logprobs"):
        model.generate(PROMPT, 4, logprobs=qwen.MAX_TOP_LOGPROBS + 1)
    with pytest.raises(qwen.QwenError, match="float32"):
        qwen.logprobs(np.zeros(8, dtype=np.float64), 0)


def test_streamed_logprobs_are_the_same(qwen, model):
    whole = model.generate(PROMPT, 12, greedy=True, ignore_eos=True, logprobs=3)
    chunks = list(model.generate(PROMPT, 12, greedy=True, ignore_eos=True, logprobs=3, stream=True))
    assert all(isinstance(c, qwen.Completion) for c in chunks)
    assert all(c.finish_reason is None for c in chunks[:-1])
    last = chunks[-1]
    assert (last.text, last.tokens, last.finish_reason, last.n_generated_tokens) == ("", [], "length", 12)
    assert "".join(c.text for c in chunks) == whole.text
    assert [t for c in chunks for t in c.tokens] == whole.tokens


def test_contexts_have_their_own_cache(qwen, model):
    model.reset()
    expected = model.generate(PROMPT, 8, greedy=True, ignore_eos=True)
    with model.context(n_ctx=128) as a, model.context(n_ctx=256, threads=1) as b:
        assert (a.n_ctx, b.n_ctx, a.n_past, b.n_past) == (128, 256, 0, 0)
        assert a.generate(PROMPT, 8, greedy=True, ignore_eos=True) == expected
        assert b.n_past == 0  # a's generation did not touch b
        assert b.chat(ASK, max_tokens=8, greedy=True) == model.chat(ASK, max_tokens=8, greedy=True)
        assert a.tokens[: len(model.tokenize(PROMPT, special=True))] == model.tokenize(PROMPT, special=True)
        a.reset(3)
        assert a.n_past == 3
    with pytest.raises(qwen.QwenError, match="closed"):
        a.generate(PROMPT, 1)


def test_a_context_outlives_its_closed_model(qwen, tiny):
    m = qwen.Model(tiny[0], n_ctx=64, threads=1)
    expected = m.generate(PROMPT, 4, greedy=True, ignore_eos=True)
    ctx = m.context()
    m.close()
    with pytest.raises(qwen.QwenError, match="closed"):
        m.tokenize("hi")
    assert ctx.generate(PROMPT, 4, greedy=True, ignore_eos=True) == expected  # the weights are still there
    ctx.close()


def test_saved_state_continues_exactly(qwen, model, tmp_path):
    with model.context(n_ctx=512) as a:
        first = a.generate(PROMPT, 8, greedy=True, ignore_eos=True)
        state = a.save_state()
        a.save_state_file(tmp_path / "state.bin")
        tokens, logits = a.tokens, np.array(a.logits())
        follow = PROMPT + first + "<|im_end|>\n<|im_start|>user\nAnd then?<|im_end|>\n<|im_start|>assistant\n"
        cont = a.generate(follow, 16, temperature=1.0, seed=11, ignore_eos=True, logprobs=2)
    assert isinstance(state, bytes) and len(state) > 0
    assert cont.n_cached_tokens > len(model.tokenize(PROMPT, special=True))

    for load in ("bytes", "file"):
        with model.context(n_ctx=512) as b:
            if load == "bytes":
                b.load_state(memoryview(state))
            else:
                b.load_state_file(str(tmp_path / "state.bin"))
            assert b.tokens == tokens
            assert np.array_equal(np.asarray(b.logits()), logits)
            # The restored cache is used (same cached count) and gives the same tokens, logprobs and all.
            assert b.generate(follow, 16, temperature=1.0, seed=11, ignore_eos=True, logprobs=2) == cont

    with model.context(n_ctx=512) as c:
        c.eval(model.tokenize("Hi"))
        for bad in (state[:100], state[:-1], b"x" * len(state)):
            with pytest.raises(qwen.QwenError) as e:
                c.load_state(bad)
            assert e.value.status == "QWEN_ERR_FORMAT"
            assert c.tokens == model.tokenize("Hi")  # unchanged
        with pytest.raises(qwen.QwenError) as e:
            c.load_state_file(tmp_path / "missing.bin")
        assert e.value.status == "QWEN_ERR_IO" and "missing.bin" in str(e.value)


def test_tool_calls_are_parsed_into_openai_shape(qwen):
    text = ('Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
            '<tool_call>\n{"name": "get_time", "arguments": {"utc_offset": 1}}\n</tool_call>')
    assert qwen.parse_tool_calls(text) == {
        "content": "Let me check.",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}},
                       {"name": "get_time", "arguments": {"utc_offset": 1}}]}
    from qwen._chat import assistant_message  # what chat() returns for that answer

    message = assistant_message(text, [WEATHER, TIME])
    assert message == {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"type": "function", "function": {"name": "get_time", "arguments": {"utc_offset": 1}}}]}
    assert assistant_message(text, None) == {"role": "assistant", "content": text}
    # The message goes back into the conversation as the template expects it.
    rendered = qwen.render_chat(ASK + [message, {"role": "tool", "content": "18C"}], [WEATHER, TIME])
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in rendered
    assert rendered.endswith("<tool_response>\n18C\n</tool_response><|im_end|>\n<|im_start|>assistant\n")


def test_chat_tool_choice_constrains_the_calls(qwen, model):
    tools = [WEATHER, TIME]
    for choice, names in (("required", {"get_weather", "get_time"}),
                          ({"type": "function", "function": {"name": "get_time"}}, {"get_time"})):
        message = model.chat(ASK, tools, max_tokens=120, tool_choice=choice, seed=5)
        assert message["role"] == "assistant" and message["tool_calls"], message
        for call in message["tool_calls"]:
            assert call["type"] == "function" and call["function"]["name"] in names
            schema = next(t for t in tools if t["function"]["name"] == call["function"]["name"])
            jsonschema.validate(call["function"]["arguments"], schema["function"]["parameters"])
    auto = model.chat(ASK, tools, max_tokens=40, tool_choice="auto", seed=1)
    assert "tool_calls" in auto or not auto["content"].startswith("<")
    with pytest.raises(ValueError, match="get_date"):
        model.chat(ASK, tools, tool_choice={"type": "function", "function": {"name": "get_date"}})
    with pytest.raises(ValueError, match="tools"):
        model.chat(ASK, tool_choice="required")


def test_chat_response_format(qwen, model):
    schema = {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3}},
        "required": ["name", "age", "tags"], "additionalProperties": False}
    for fmt in ({"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
                {"type": "json_schema", "json_schema": schema},
                {"type": "json_object", "schema": schema}):
        for seed in (1, 2):
            message = model.chat(ASK, max_tokens=200, response_format=fmt, seed=seed, logprobs=0)
            jsonschema.validate(json.loads(message["content"]), schema)
            assert message["logprobs"] and all(t.logprob <= 0 for t in message["logprobs"])
    loose = model.chat(ASK, max_tokens=24, response_format={"type": "json_object"}, seed=3)
    assert loose["content"].lstrip().startswith("{")
    with pytest.raises(ValueError, match="xml"):
        model.chat(ASK, response_format={"type": "xml"})
    with pytest.raises(ValueError, match="both"):
        model.chat(ASK, response_format={"type": "json_object"}, grammar='root ::= "x"')


def test_the_gil_is_released_during_eval(model):
    # While a thread is inside eval, the main thread must keep running Python: with the GIL held
    # it could not run a single line until eval returned.
    ids = (model.tokenize(PROMPT, special=True) * 40)[:400]
    spans: list[tuple[float, float]] = []
    with model.context(n_ctx=512, threads=1) as ctx:
        def work() -> None:
            for _ in range(3):
                t0 = time.perf_counter()
                ctx.eval(ids)
                spans.append((t0, time.perf_counter()))
                ctx.reset()

        worker = threading.Thread(target=work)
        ticks: list[float] = []
        worker.start()
        while worker.is_alive():
            ticks.append(time.perf_counter())
        worker.join()
    inside = sum(1 for t in ticks for a, b in spans if a < t < b)
    assert len(spans) == 3 and inside > 0


def test_abort_from_another_thread(model):
    with model.context(n_ctx=4096) as ctx:
        stream = ctx.generate(PROMPT, 0, greedy=True, ignore_eos=True, stream=True, logprobs=0)
        next(stream)
        threading.Thread(target=ctx.abort).start()
        chunks = list(stream)
        assert chunks[-1].finish_reason == "aborted"
        assert ctx.n_past < 4000
        # The request was consumed: the next call runs normally.
        assert ctx.generate(PROMPT, 3, greedy=True, ignore_eos=True, logprobs=0).finish_reason == "length"
