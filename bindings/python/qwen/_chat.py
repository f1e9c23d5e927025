"""Chat helpers: the chat template, structured output, tool calls and the OpenAI-style shapes
chat() takes and returns. Pure functions over the C API's text-in, text-out calls."""

from __future__ import annotations

import json
from typing import Any, Sequence

from . import _qwen


def render_chat(messages: Sequence[dict], tools: Sequence[dict] | None = None,
                add_generation_prompt: bool = True) -> str:
    """Renders OpenAI-style messages with Qwen2.5's chat template (ChatML), byte for byte as
    transformers' apply_chat_template does. `tools` are OpenAI function definitions."""
    return _qwen.render_chat_json(json.dumps(list(messages)), None if tools is None else json.dumps(list(tools)),
                                  add_generation_prompt)


def schema_text(schema: str | dict | bool) -> str:
    return schema if isinstance(schema, str) else json.dumps(schema)


def json_schema_to_grammar(schema: str | dict | bool) -> str:
    """The GBNF grammar that json_schema= constrains generation with, for a JSON Schema (a dict
    or JSON text; {} or True: any JSON value). Unsupported keywords raise QwenError naming the
    keyword and its JSON pointer."""
    return _qwen.json_schema_to_grammar(schema_text(schema))


def tools_grammar(tools: Sequence[dict], required: bool = False) -> str:
    """A GBNF grammar for an answer to a conversation with these tools (OpenAI function
    definitions): plain text that does not start with '<', or <tool_call> blocks calling
    declared tools with arguments that follow their parameters' JSON Schema. required=True
    leaves only the calls (one or more). Pass it as grammar= to chat()."""
    grammar = _qwen.tools_grammar(json.dumps(list(tools)))
    if not required:
        return grammar
    # The C API documents its first line as the root rule and `tool-call` as one block.
    _, rules = grammar.split("\n", 1)
    return 'root ::= tool-call ( "\\n" tool-call )*\n' + rules


def parse_tool_calls(text: str) -> dict:
    """Reads Qwen2.5's <tool_call> blocks out of an answer: {"content": the text outside the
    calls, "tool_calls": [{"name": ..., "arguments": {...}}, ...]}."""
    return json.loads(_qwen.parse_tool_calls(text))


def _tool_name(tool: dict) -> Any:
    return tool.get("function", tool).get("name")


def constraint(tools: Sequence[dict] | None, response_format: dict | None, tool_choice: str | dict | None) -> dict:
    """The grammar= or json_schema= keyword that response_format / tool_choice ask chat() for."""
    out: dict = {}
    if response_format is not None:
        kind = response_format.get("type")
        if kind == "json_object":
            out["json_schema"] = response_format.get("schema", {"type": "object"})
        elif kind == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict):
                raise ValueError('response_format: "json_schema" must be a dict ({"name": ..., "schema": {...}})')
            out["json_schema"] = spec["schema"] if "schema" in spec else spec
        elif kind != "text":
            raise ValueError(f"response_format: type {kind!r} is not 'text', 'json_object' or 'json_schema'")
    if tool_choice is None or tool_choice == "none":
        return out
    if not tools:
        raise ValueError("tool_choice needs tools")
    if out:
        raise ValueError("response_format and tool_choice cannot both constrain one answer")
    if tool_choice == "auto":
        out["grammar"] = tools_grammar(tools)
    elif tool_choice == "required":
        out["grammar"] = tools_grammar(tools, required=True)
    elif isinstance(tool_choice, dict):
        name = tool_choice.get("function", {}).get("name")
        chosen = [t for t in tools if _tool_name(t) == name]
        if not chosen:
            raise ValueError(f"tool_choice: {name!r} is not one of the tools")
        out["grammar"] = tools_grammar(chosen, required=True)
    else:
        raise ValueError(f"tool_choice: {tool_choice!r} is not 'none', 'auto', 'required' or "
                         '{"type": "function", "function": {"name": ...}}')
    return out


def assistant_message(text: str, tools: Sequence[dict] | None) -> dict:
    """The message chat() returns: with tools, the calls in the answer become OpenAI-style
    tool_calls (arguments as a dict, the shape the chat template renders back)."""
    message: dict = {"role": "assistant", "content": text}
    if tools:
        parsed = parse_tool_calls(text)
        if parsed["tool_calls"]:
            message["content"] = parsed["content"]
            message["tool_calls"] = [{"type": "function", "function": call} for call in parsed["tool_calls"]]
    return message
