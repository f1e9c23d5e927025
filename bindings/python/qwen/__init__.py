"""Python interface to libqwen, a fast and exact CPU runtime for Qwen2.5-0.5B-Instruct.

    import qwen
    model = qwen.Model("qwen2.5-0.5b-instruct-q8_0.gguf")
    print(model.chat([{"role": "user", "content": "Hi!"}])["content"])
    for chunk in model.generate("Once upon a time", max_tokens=64, stream=True):
        print(chunk, end="", flush=True)

Everything goes through libqwen's public C API (qwen/qwen.h). Failures raise QwenError with
the library's message; Ctrl-C stops a generation and raises KeyboardInterrupt.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any, Iterator, Sequence

from . import _qwen
from ._qwen import QwenError

__all__ = ["Model", "QwenError", "json_schema_to_grammar", "parse_tool_calls", "render_chat", "tools_grammar",
           "__version__"]
__version__ = _qwen.version()


def render_chat(messages: Sequence[dict], tools: Sequence[dict] | None = None,
                add_generation_prompt: bool = True) -> str:
    """Renders OpenAI-style messages with Qwen2.5's chat template (ChatML), byte for byte as
    transformers' apply_chat_template does. `tools` are OpenAI function definitions."""
    return _qwen.render_chat_json(json.dumps(list(messages)), None if tools is None else json.dumps(list(tools)),
                                  add_generation_prompt)


def _schema_text(schema: str | dict | bool) -> str:
    return schema if isinstance(schema, str) else json.dumps(schema)


def json_schema_to_grammar(schema: str | dict | bool) -> str:
    """The GBNF grammar that json_schema= constrains generation with, for a JSON Schema (a dict
    or JSON text; {} or True: any JSON value). Unsupported keywords raise QwenError naming the
    keyword and its JSON pointer."""
    return _qwen.json_schema_to_grammar(_schema_text(schema))


def tools_grammar(tools: Sequence[dict]) -> str:
    """A GBNF grammar for an answer to a conversation with these tools (OpenAI function
    definitions): plain text, or <tool_call> blocks calling declared tools with arguments that
    follow their parameters' JSON Schema. Pass it as grammar= to chat()."""
    return _qwen.tools_grammar(json.dumps(list(tools)))


def parse_tool_calls(text: str) -> dict:
    """Reads Qwen2.5's <tool_call> blocks out of an answer: {"content": the text outside the
    calls, "tool_calls": [{"name": ..., "arguments": {...}}, ...]}."""
    return json.loads(_qwen.parse_tool_calls(text))


def _native(name: str, doc: str) -> property:
    """A read-only property forwarded to the native model."""
    return property(lambda self: getattr(self._m, name), doc=doc)


class Model:
    """A loaded model with one conversation context (KV cache) and per-call sampling.

    A Model is used from one thread at a time (abort() excepted). Consecutive generate() or
    chat() calls whose prompts share a prefix reuse it from the KV cache. Free the native
    memory early with close() or a `with` block; otherwise it goes with the object.
    """

    def __init__(self, path: str, n_ctx: int = 4096, threads: int = 0):
        """Loads a GGUF file or a Hugging Face folder. n_ctx is the KV cache length in tokens;
        threads 0 uses one per core. Raises QwenError (status QWEN_ERR_IO for a missing file)."""
        self._m = _qwen.Model(str(path), n_ctx, threads)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Frees the model and its context now; any later call raises QwenError."""
        self._m.close()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- properties ------------------------------------------------------------------------

    n_vocab = _native("n_vocab", "Rows of the LM head (the length of a logits row).")
    n_ctx_train = _native("n_ctx_train", "The longest context the model was trained for.")
    n_embd = _native("n_embd", "Hidden size.")
    n_layer = _native("n_layer", "Number of transformer blocks.")
    n_ctx = _native("n_ctx", "The KV cache length given at load.")
    n_past = _native("n_past", "Tokens currently in the KV cache.")
    eos_token = _native("eos_token", "The end-of-turn token id (<|im_end|> for Qwen2.5-Instruct), or -1.")

    # -- tokenizer -------------------------------------------------------------------------

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        """Token ids of `text`. With special=True control-token text such as "<|im_start|>"
        becomes its id; otherwise it is encoded as plain text."""
        return self._m.tokenize(text, special)

    def detokenize(self, ids: Sequence[int], skip_special: bool = False) -> str:
        """The text of `ids`; ill-formed UTF-8 becomes U+FFFD as in Hugging Face's decoder."""
        return self._m.detokenize(list(ids), skip_special, False).decode("utf-8")

    # -- generation ------------------------------------------------------------------------

    def generate(self, prompt: str, max_tokens: int = 512, *, temperature: float | None = None,
                 top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
                 repetition_penalty: float | None = None, seed: int | None = None,
                 stop: str | Sequence[str] | None = None, stream: bool = False, greedy: bool = False,
                 ignore_eos: bool = False, grammar: str | None = None,
                 json_schema: str | dict | bool | None = None) -> str | Iterator[str]:
        """Continues `prompt` (the whole text the model should see; ChatML tokens in it are
        parsed) and returns the generated text, or with stream=True an iterator of text
        chunks whose concatenation is that text.

        Sampling options left as None keep the model's generation defaults; greedy=True
        always takes the most likely token. Generation stops at the end-of-turn token (unless
        ignore_eos), at max_tokens (0: no limit), or before any of the `stop` strings (which
        are not part of the output). Ctrl-C raises KeyboardInterrupt.

        Structured output: grammar= (GBNF text) or json_schema= (a dict or JSON text; {}: any
        JSON value) lets only tokens through that keep the text valid; the end-of-turn token
        comes only once it is complete (max_tokens can still cut it short).
        """
        sampling = _sampling(greedy, temperature, top_k, top_p, min_p, repetition_penalty, seed)
        sampling.grammar = grammar
        sampling.json_schema = None if json_schema is None else _schema_text(json_schema)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if stream:
            return self._stream(prompt, sampling, max_tokens, stops, ignore_eos)
        return self._m.generate(prompt, sampling, max_tokens, stops, ignore_eos, None).text.decode("utf-8")

    def chat(self, messages: Sequence[dict], tools: Sequence[dict] | None = None, max_tokens: int = 512,
             stream: bool = False, **sampling: Any) -> dict | Iterator[str]:
        """Answers a conversation of OpenAI-style messages ({"role": ..., "content": ...}):
        returns {"role": "assistant", "content": text}, or with stream=True an iterator of
        text chunks. Sampling keywords are those of generate(), grammar= and json_schema=
        included; with tools, grammar=qwen.tools_grammar(tools) keeps tool calls valid and
        qwen.parse_tool_calls() reads them back."""
        prompt = render_chat(messages, tools, add_generation_prompt=True)
        out = self.generate(prompt, max_tokens, stream=stream, **sampling)
        return out if stream else {"role": "assistant", "content": out}

    def render_chat(self, messages: Sequence[dict], tools: Sequence[dict] | None = None,
                    add_generation_prompt: bool = True) -> str:
        """The prompt text chat() would generate from (see the module function render_chat)."""
        return render_chat(messages, tools, add_generation_prompt)

    def reset(self) -> None:
        """Empties the KV cache (the next prompt is evaluated from scratch)."""
        self._m.reset()

    def abort(self) -> None:
        """Stops a generation running on another thread. Safe to call from any thread."""
        self._m.abort()

    def logits(self) -> memoryview:
        """The logits of the last evaluated token(s) as a read-only float32 memoryview of shape
        (rows, n_vocab) over the context's own memory, without a copy: numpy.asarray() it.
        Valid only until the next generate()/chat()/reset() - copy it to keep it."""
        return self._m.logits()

    def _stream(self, prompt: str, sampling: "_qwen.Sampling", max_tokens: int, stops: list[str],
                ignore_eos: bool) -> Iterator[str]:
        # The C library calls back with each chunk while it computes (without the GIL) on a
        # worker thread; a queue hands the chunks to this generator. Leaving the loop early
        # (break, close, garbage collection) makes the callback stop generation.
        chunks: queue.Queue = queue.Queue()
        done = object()
        stopped = threading.Event()

        def on_text(b: bytes) -> bool:
            chunks.put(b.decode("utf-8"))
            return not stopped.is_set()

        def work() -> None:
            try:
                self._m.generate(prompt, sampling, max_tokens, stops, ignore_eos, on_text)
                chunks.put(done)
            except BaseException as e:  # handed to the consumer, raised there
                chunks.put(e)

        worker = threading.Thread(target=work, name="qwen-generate", daemon=True)
        worker.start()
        try:
            while True:
                item = chunks.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Not qwen_context_abort(): a request that arrives after the end would stop the
            # next call. The callback sees `stopped` at the next token.
            stopped.set()
            worker.join()


def _sampling(greedy: bool, temperature: float | None, top_k: int | None, top_p: float | None,
              min_p: float | None, repetition_penalty: float | None, seed: int | None) -> "_qwen.Sampling":
    s = _qwen.Sampling()
    s.greedy = greedy
    s.temperature, s.top_k, s.top_p, s.min_p = temperature, top_k, top_p, min_p
    s.repetition_penalty, s.seed = repetition_penalty, seed
    return s
