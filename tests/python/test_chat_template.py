"""Qwen2.5's chat template: libqwen's rendering (qwen_chat_render_json, through the test driver
tests/chat/chat_render_tool) against Jinja2 rendering the official template exactly as
transformers' apply_chat_template does, byte for byte, on fixed and on random conversations.

The template is read at test time from the llama.cpp release of the oracles
(models/templates/Qwen-Qwen2.5-7B-Instruct.jinja, the same text as the Qwen2.5 GGUFs'
tokenizer.chat_template); it is never committed.

libqwen refuses two kinds of input that the template would render (documented in
lib/chat/chat_template.cpp): unknown roles (Jinja drops the message) and printing a value that
is not a string (Jinja prints str(value), e.g. "None"). The reference below encodes exactly
these two refusals on top of transformers' environment; everything else must agree, errors
included.
"""

from __future__ import annotations

import json
import math
import os
import random
import struct
import subprocess

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

import libqwen
import oracles

TEMPLATE = "models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
ROLES = ("system", "user", "assistant", "tool")


def _unavailable(what: str):
    # As oracles.require_llama(): a missing oracle fails in CI, skips elsewhere.
    if os.environ.get("CI") or os.environ.get("QWEN_REQUIRE_ORACLES") == "1":
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture(scope="module")
def template_source() -> str:
    gitdir = os.path.join(oracles.oracle_dir(), "llama.git")
    if not os.path.isdir(gitdir):
        oracles.require_llama()  # fetches the npm packages and clones the bundle (or skips/fails)
    r = subprocess.run(["git", f"--git-dir={gitdir}", "show", f"HEAD:{TEMPLATE}"], capture_output=True)
    if r.returncode != 0:
        _unavailable(f"cannot read {TEMPLATE} from {gitdir}: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode("utf-8")


@pytest.fixture(scope="module")
def tool() -> str:
    return libqwen.tool_path("chat_render_tool", "tests/chat/chat_render_tool.cpp", "QWEN_CHAT_RENDER_TOOL")


# ----------------------------------------------------------------------------- the reference
def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' own filter (Jinja's built-in one escapes HTML characters).
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def _strings_only(value):
    # Output finalizer of the strict environment: `{{ x }}` of a non-string is refused.
    if isinstance(value, (str, jinja2.Undefined)):
        return value
    raise TypeError(f"printing a {type(value).__name__}")


def _environment(strict: bool) -> ImmutableSandboxedEnvironment:
    kw = {"finalize": _strings_only} if strict else {}
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, **kw)
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    return env


class Reference:
    """Jinja's rendering, or None where it raises or libqwen refuses by design."""

    def __init__(self, source: str):
        self.plain = _environment(False).from_string(source)
        self.strict = _environment(True).from_string(source)
        self.refusals = 0  # cases transformers renders and libqwen refuses

    def render(self, messages, tools, add_generation_prompt) -> str | None:
        kw = dict(messages=messages, tools=tools, add_generation_prompt=add_generation_prompt)
        try:
            plain = self.plain.render(**kw)
        except Exception:
            plain = None
        known = all(isinstance(m, dict) and m.get("role") in ROLES for m in messages)
        try:
            strict = self.strict.render(**kw) if known else None
        except Exception:
            strict = None
        if strict is not None:
            assert strict == plain  # the finalizer only refuses, it never changes the text
        elif plain is not None:
            self.refusals += 1
        return strict


@pytest.fixture(scope="module")
def reference(template_source) -> Reference:
    return Reference(template_source)


def run_tool(tool: str, cases: list[dict]) -> list[dict]:
    """Renders many cases with one driver run. Messages and tools go as JSON text, so the
    library parses exactly what Python wrote."""
    lines = []
    for c in cases:
        ascii_ = c.get("ensure_ascii", False)
        req = {"messages": json.dumps(c["messages"], ensure_ascii=ascii_),
               "add_generation_prompt": c["add_generation_prompt"]}
        if c["tools"] is not None:
            req["tools"] = json.dumps(c["tools"], ensure_ascii=ascii_)
        lines.append(json.dumps(req))
    r = subprocess.run([tool, "--jsonl"], input="\n".join(lines).encode() + b"\n", capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    # split("\n"), not splitlines(): the texts hold U+2028 and U+0085 unescaped.
    out = [json.loads(line) for line in r.stdout.decode("utf-8").split("\n")[:-1]]
    assert len(out) == len(cases)
    return out


def check_cases(tool, reference, cases) -> tuple[int, int]:
    """Asserts agreement on every case; returns (rendered, refused) counts."""
    rendered = refused = 0
    for i, (case, got) in enumerate(zip(cases, run_tool(tool, cases))):
        want = reference.render(case["messages"], case["tools"], case["add_generation_prompt"])
        ctx = f"case {i}: {json.dumps(case, ensure_ascii=False)[:2000]}"
        if want is None:
            assert "error" in got, f"{ctx}\nJinja raises (or libqwen must refuse) but libqwen rendered:\n{got}"
            assert got["status"] == "QWEN_ERR_INVALID_ARGUMENT", ctx
            refused += 1
        else:
            assert "text" in got, f"{ctx}\nlibqwen failed: {got.get('error')}"
            assert got["text"] == want, f"{ctx}\n--- libqwen:\n{got['text']!r}\n--- Jinja:\n{want!r}"
            rendered += 1
    return rendered, refused


# ----------------------------------------------------------------------------- fixed cases
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city, \"now\" or later",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "e.g. 東京 or Zürich"},
        "days": {"type": "integer", "minimum": 1, "default": 1.0},
        "units": {"type": "string", "enum": ["C", "F"], "nullable": True, "default": None}},
        "required": ["city"]}}}

FIXED = [
    ([{"role": "user", "content": "Hi"}], None, True),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}], None, True),
    ([{"role": "user", "content": "Weather in Tokyo?"}], [WEATHER], True),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}], [WEATHER], False),
    ([{"role": "user", "content": "Weather in Tokyo and Paris?"},
      {"role": "assistant", "content": None, "tool_calls": [
          {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "東京", "days": 2}}},
          {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}]},
      {"role": "tool", "content": "{\"temp\": 21.5}"}, {"role": "tool", "content": "晴れ"},
      {"role": "assistant", "content": "Sunny."}, {"role": "tool", "content": "late"}], [WEATHER], True),
    ([{"role": "user", "content": ""}, {"role": "assistant", "content": "", "tool_calls": []}], [], False),
    ([{"role": "assistant", "content": "I'll check.", "tool_calls": [{"name": "f", "arguments": None}]}], None, False),
    ([{"role": "tool"}, {"role": "user", "content": "x"}, {"role": "system", "content": "later"}], None, True),
    ([{"role": "system"}], [WEATHER, 1, "x", None], True),
    # errors in Jinja
    ([], None, True),
    ([{"role": "user"}], None, False),
    ([{"role": "user", "content": None}], None, False),
    ([{"role": "system"}], None, False),
    ([{"role": "assistant", "tool_calls": [{"name": "f"}]}], None, False),
    ([{"role": "assistant", "tool_calls": "f"}], None, False),
    ([{"role": "assistant", "content": ["x"], "tool_calls": [{"name": "f", "arguments": {}}]}], None, False),
    # refused by libqwen, rendered by Jinja
    ([{"role": "developer", "content": "x"}], None, False),
    ([{"role": "tool", "content": None}], None, False),
    ([{"role": "system", "content": 5}], [WEATHER], False),
    ([{"role": "assistant", "tool_calls": [{"name": None, "arguments": {}}]}], None, False),
]


def test_fixed_conversations(tool, reference):
    cases = [dict(messages=m, tools=t, add_generation_prompt=g) for m, t, g in FIXED]
    rendered, refused = check_cases(tool, reference, cases)
    assert (rendered, refused) == (9, 11)


# ----------------------------------------------------------------------------- random cases
PIECES = ["hello", "world", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\"", "'", "\\", "\\n", "/", "{", "}", "[]",
          "你好", "世界", "東京", "😀", "🎉👍🏽", "é", "e\u0301", "\u2028", "\u2029", "\u00a0", "\ufeff", "\u200b",
          "\x00", "\x01", "\x1f", "\x7f", "\x85", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_response>",
          "{\"a\": 1}", "None", "null", "true", "0", "-1.5e10", "ß", "Ω", "𝔘𝔫𝔦", "\U0010ffff", "\ud7ff", "\ue000"]


def rand_text(rng: random.Random, max_pieces: int = 8) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, max_pieces)))


def rand_float(rng: random.Random) -> float:
    kind = rng.randrange(6)
    if kind == 0:  # any bit pattern
        while True:
            v = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if math.isfinite(v):
                return v
    if kind == 1:
        return rng.choice([0.0, -0.0, 1.0, 0.1, 1e16, 1e15, 9999999999999998.0, 1e-4, 1e-5, 1e-7, 5e-324,
                           1.7976931348623157e308, 2.5, 100.0, 123456789012345680.0, 1e22])
    if kind == 2:
        return rng.uniform(-1000, 1000)
    if kind == 3:
        return float(rng.randint(-10**18, 10**18))
    if kind == 4:
        return round(rng.uniform(-100, 100), rng.randint(0, 6))
    return rng.uniform(-1, 1) * 10.0 ** rng.randint(-30, 30)


def rand_int(rng: random.Random) -> int:
    return rng.choice([rng.randint(-10, 10), rng.randint(-2**63, 2**63 - 1), rng.randint(2**63, 2**64 - 1),
                       rng.choice([0, -1, 2**63 - 1, -2**63, 2**64 - 1])])


def rand_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rand_int(rng)
    if kind == 3:
        return rand_float(rng)
    if kind in (4, 5):
        return rand_text(rng)
    if kind in (6, 7):
        return {rand_text(rng, 3): rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def rand_schema(rng: random.Random, depth: int = 0) -> dict:
    t = rng.choice(["string", "integer", "number", "boolean", "array", "object"] if depth < 2 else
                   ["string", "integer", "number", "boolean"])
    s: dict = {"type": t}
    if rng.random() < 0.5:
        s["description"] = rand_text(rng)
    if t == "object":
        props = {rand_text(rng, 2) or "p": rand_schema(rng, depth + 1) for _ in range(rng.randint(0, 4))}
        s["properties"] = props
        s["required"] = [k for k in props if rng.random() < 0.5]
    elif t == "array":
        s["items"] = rand_schema(rng, depth + 1)
    elif t in ("integer", "number"):
        if rng.random() < 0.5:
            s["minimum"] = rand_int(rng) if t == "integer" else rand_float(rng)
        if rng.random() < 0.3:
            s["default"] = rand_float(rng)
    elif t == "string" and rng.random() < 0.3:
        s["enum"] = [rand_text(rng, 2) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:
        s["nullable"] = rng.choice([True, False, None])
    return s


def rand_tool(rng: random.Random):
    if rng.random() < 0.05:
        return rand_json(rng)  # the template writes any value with tojson
    fn = {"name": rand_text(rng, 2) or "f", "description": rand_text(rng), "parameters": rand_schema(rng)}
    return {"type": "function", "function": fn} if rng.random() < 0.8 else fn


def rand_call(rng: random.Random):
    args = rand_json(rng) if rng.random() < 0.2 else {rand_text(rng, 2): rand_json(rng, 1) for _ in range(rng.randint(0, 4))}
    if rng.random() < 0.3:
        args = json.dumps(args, ensure_ascii=rng.random() < 0.5)  # arguments as a JSON string
    call = {"name": rand_text(rng, 2) or "f", "arguments": args}
    if rng.random() < 0.03:
        del call[rng.choice(["name", "arguments"])]
    elif rng.random() < 0.02:
        call["name"] = rand_json(rng)
    return {"type": "function", "id": "call_1", "function": call} if rng.random() < 0.5 else call


def rand_content(rng: random.Random, odd: float):
    r = rng.random()
    if r < odd:
        return rng.choice([None, 0, 1, [], ["x"], {"type": "text"}, True, 2.5])
    if r < 2 * odd:
        return "<missing>"
    return rand_text(rng, 12)


def rand_message(rng: random.Random, role: str, odd: float) -> dict:
    m: dict = {"role": role}
    content = rand_content(rng, odd)
    if role == "assistant" and rng.random() < 0.4:
        m["tool_calls"] = [rand_call(rng) for _ in range(rng.randint(1, 3))] if rng.random() > odd else \
            rng.choice([[], None, "f", {"name": "f"}, 0])
        if rng.random() < 0.5:
            content = rng.choice([None, "", "<missing>", content])
    if content != "<missing>":
        m["content"] = content
    if rng.random() < 0.1:
        m["name"] = rand_text(rng, 2)  # keys the template ignores
    return m


def rand_conversation(rng: random.Random) -> dict:
    odd = rng.choice([0.0, 0.0, 0.0, 0.01, 0.05])  # how often a shape the template may refuse appears
    messages = []
    if rng.random() < 0.5:
        messages.append(rand_message(rng, "system", odd))
    for _ in range(rng.randint(0 if messages else 1, 8)):
        r = rng.random()
        if r < 0.3:
            messages.append(rand_message(rng, "user", odd))
        elif r < 0.6:
            messages.append(rand_message(rng, "assistant", odd))
        elif r < 0.9:
            messages.extend(rand_message(rng, "tool", odd) for _ in range(rng.randint(1, 3)))
        elif r < 0.99:
            messages.append(rand_message(rng, "system", odd))
        else:
            messages.append(rand_message(rng, rng.choice(["developer", "function", "User"]), odd))
    if rng.random() < odd:
        messages = []
    tools = rng.choice([None, None, [], [rand_tool(rng) for _ in range(rng.randint(1, 4))]])
    return dict(messages=messages, tools=tools, add_generation_prompt=rng.random() < 0.5,
                ensure_ascii=rng.random() < 0.3)


def test_random_conversations(tool, reference):
    rng = random.Random(20250101)
    cases = [rand_conversation(rng) for _ in range(2000)]
    rendered, refused = check_cases(tool, reference, cases)
    # The generator must mostly make conversations the template renders, and some it refuses.
    assert rendered >= 1600 and refused >= 50, (rendered, refused)
    assert reference.refusals > 0


def test_floats_and_integers_as_python_writes_them(tool, reference):
    """Many random doubles and 64-bit integers as tool-call arguments: tojson is json.dumps,
    so floats must come out as Python's repr."""
    rng = random.Random(7)
    cases = []
    for _ in range(20):
        values = [rand_float(rng) for _ in range(2500)] + [rand_int(rng) for _ in range(500)]
        call = {"name": "f", "arguments": {"values": values}}
        cases.append(dict(messages=[{"role": "assistant", "tool_calls": [call]}], tools=None,
                          add_generation_prompt=False))
    assert check_cases(tool, reference, cases) == (20, 0)


def test_integers_beyond_64_bits_are_refused(tool):
    # Python writes them digit for digit; a 64-bit parser would turn them into floats.
    for n in (2**64, -2**63 - 1, 10**30):
        got = run_tool(tool, [dict(messages=[{"role": "assistant", "tool_calls": [{"name": "f", "arguments": n}]}],
                                   tools=None, add_generation_prompt=False)])[0]
        assert "does not fit in 64 bits" in got.get("error", ""), got
