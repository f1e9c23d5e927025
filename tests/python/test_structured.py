"""Structured output through the Python package on a tiny synthetic model with the REAL
Qwen2.5 vocabulary (151,936 rows) and random weights: at a high temperature the model writes
junk, which is what makes the constraint work hard. Every finished sample must be JSON that an
independent validator (python3-jsonschema) accepts, and the sampler must never run out of
allowed tokens (that would raise QwenError)."""

from __future__ import annotations

import json
import os
import re
import subprocess

import jsonschema
import pytest

import libqwen
import oracles
from test_binding import _import_qwen

PROMPT = "<|im_start|>user\nGive me JSON.<|im_end|>\n<|im_start|>assistant\n"

SCHEMAS = {
    "nested": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 12},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                        "required": ["city"], "additionalProperties": False},
        },
        "required": ["name", "age", "address"],
        "additionalProperties": False,
    },
    "enums_and_arrays": {
        "type": "object",
        "properties": {
            "color": {"enum": ["red", "green", "blue", 7, None]},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 4}, "minItems": 1, "maxItems": 3},
            "flag": {"const": True},
        },
        "required": ["color", "tags"],
    },
    "optional_fields": {
        "type": "object",
        "properties": {"a": {"type": "boolean"}, "b": {"type": "null"}, "c": {"type": "number"}, "d": {"type": "integer", "exclusiveMinimum": -5}},
        "additionalProperties": False,
    },
    "recursive_ref": {
        "$ref": "#/$defs/node",
        "$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
                                                             "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
                           "required": ["v"], "additionalProperties": False}},
    },
    "any_of": {"anyOf": [{"type": "integer", "minimum": 10, "maximum": 99}, {"type": "string", "format": "date"},
                         {"type": "array", "items": {"type": "boolean"}, "maxItems": 2}]},
    "formats": {
        "type": "object",
        "properties": {"id": {"type": "string", "format": "uuid"}, "when": {"type": "string", "format": "date-time"},
                       "day": {"type": "string", "format": "date"}},
        "required": ["id", "when"],
    },
    "any_json": {},
}

# Through Python (a sampler per call): a few samples per schema. The many samples per schema
# come from tests/grammar/structured_samples (one sampler per schema, so its mask cache is
# warm after the first samples): QWEN_STRUCTURED_SAMPLES per schema, CI's default below; the
# stress run uses thousands (README, "Structured output").
SAMPLES = 4
MANY = int(os.environ.get("QWEN_STRUCTURED_SAMPLES", "300"))


@pytest.fixture(scope="module")
def qwen():
    return _import_qwen()


@pytest.fixture(scope="module")
def gguf(tmp_path_factory):
    oracles.oracle_dir()
    folder = str(tmp_path_factory.mktemp("structured"))
    path, _ = libqwen.synth(folder, "tiny", "f32", hf=False, seed=3)
    return path


@pytest.fixture(scope="module")
def model(qwen, gguf):
    m = qwen.Model(gguf, n_ctx=1024, threads=2)
    yield m
    m.close()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_finished_sample_validates(model, name):
    schema = SCHEMAS[name]
    finished = 0
    for seed in range(SAMPLES):
        text = model.generate(PROMPT, max_tokens=80, temperature=1.5, top_k=0, top_p=1.0, repetition_penalty=1.0,
                              seed=seed, json_schema=schema)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            # Cut by max_tokens: it must still be a prefix of valid output, so it is not complete JSON.
            continue
        jsonschema.validate(value, schema)
        finished += 1
    print(f"{name}: {finished}/{SAMPLES} samples finished and validated")
    assert finished >= 1


@pytest.fixture(scope="module")
def samples_tool():
    return libqwen.tool_path("structured_samples", "tests/grammar/structured_samples.cpp")


@pytest.fixture(scope="module")
def q8_gguf(gguf):
    # Q8_0: the tiny model's cost is its 151,936-row LM head, read 4x faster than in F32.
    out = gguf.replace(".gguf", "-q8_0.gguf")
    libqwen.run(["quantize", gguf, out, "q8_0"])
    return out


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_many_samples_per_schema(q8_gguf, samples_tool, tmp_path, name):
    """MANY samples under each schema: every finished one validates, the ones cut by max_tokens
    are not complete JSON texts of the schema, and the constraint never leaves the sampler
    without an allowed token (the tool would exit 1 with the library's error)."""
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(SCHEMAS[name]))
    r = subprocess.run([samples_tool, q8_gguf, str(schema_file), str(MANY), "17", "80"], capture_output=True,
                       text=True, timeout=3600)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.split("\n") if line]  # not splitlines(): U+2028 is text
    assert len(lines) == MANY
    finished = 0
    for line in lines:
        if line["finish"] == "eos":
            jsonschema.validate(json.loads(line["text"]), SCHEMAS[name])
            finished += 1
        else:
            assert line["finish"] == "length" and line["tokens"] == 80, line
    distinct = len({line["text"] for line in lines})
    print(f"{name}: {finished}/{MANY} finished and validated, {distinct} distinct; {r.stderr.strip()}")
    assert finished >= MANY // 10  # the rest reached max_tokens (the junk model rambles)
    assert distinct > min(MANY // 4, 50)  # the random stream goes on (small languages repeat)


def test_schema_as_text_and_grammar(qwen, model):
    grammar = qwen.json_schema_to_grammar({"type": "array", "items": {"type": "integer"}, "maxItems": 3})
    assert grammar.startswith("root ::= ")
    for seed in range(3):
        out = model.generate(PROMPT, max_tokens=30, temperature=2.0, top_k=0, top_p=1.0, seed=seed, grammar=grammar)
        value = json.loads(out)
        assert isinstance(value, list) and len(value) <= 3 and all(isinstance(v, int) for v in value)
    out = model.generate(PROMPT, max_tokens=40, greedy=True, grammar='root ::= "yes" | "no"')
    assert out in ("yes", "no")


def test_errors(qwen, model):
    with pytest.raises(qwen.QwenError, match="uniqueItems"):
        qwen.json_schema_to_grammar({"type": "array", "uniqueItems": True})
    with pytest.raises(qwen.QwenError, match="line 1, column"):
        model.generate(PROMPT, max_tokens=4, grammar="root ::= (")
    with pytest.raises(qwen.QwenError, match="both set"):
        model.generate(PROMPT, max_tokens=4, grammar='root ::= "a"', json_schema={})


TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 10},
                                                                                      "unit": {"enum": ["C", "F"]}},
                                                     "required": ["city"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"], "additionalProperties": False}}},
]


def test_tool_calls_constrained_and_parsed(qwen, model):
    grammar = qwen.tools_grammar(TOOLS)
    # The junk model would mostly take the plain-text branch: keep only the calls' branch here.
    calls_only = re.sub(r"^root ::= .*$", r'root ::= tool-call ( "\\n" tool-call )*', grammar, count=1, flags=re.M)
    assert calls_only != grammar
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    complete = 0
    for seed in range(4):
        # generate(), not chat(): chat() returns the calls already parsed out of the content.
        answer = model.generate(qwen.render_chat(messages, TOOLS), 80, temperature=1.5, top_k=0, top_p=1.0,
                                seed=seed, grammar=calls_only)
        parsed = qwen.parse_tool_calls(answer)
        if not answer.endswith("</tool_call>"):
            # Cut short by max_tokens: still a prefix of a call.
            prefix = '<tool_call>\n{'
            assert answer[:len(prefix)] == prefix[:len(answer)], answer
            continue
        assert parsed["content"] == "", answer
        assert parsed["tool_calls"], answer
        for call in parsed["tool_calls"]:
            assert call["name"] in schemas
            jsonschema.validate(call["arguments"], schemas[call["name"]])
        complete += 1
    print(f"{complete}/4 answers were complete, valid tool calls")
    assert complete >= 1
    # The full grammar also admits plain text (not starting with '<').
    text = model.chat(messages, tools=TOOLS, max_tokens=10, seed=1, temperature=1.5, top_k=0, top_p=1.0,
                      grammar=grammar)["content"]
    assert text.startswith("<tool_call>") or not text.startswith("<")


def test_parse_tool_calls(qwen):
    text = 'Sure.\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
    assert qwen.parse_tool_calls(text) == {"content": "Sure.", "tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}
    assert qwen.parse_tool_calls("no calls") == {"content": "no calls", "tool_calls": []}
