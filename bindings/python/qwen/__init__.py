"""Python interface to libqwen, a fast and exact CPU runtime for Qwen2.5-0.5B-Instruct.

    import qwen
    model = qwen.Model("qwen2.5-0.5b-instruct-q8_0.gguf")
    print(model.chat([{"role": "user", "content": "Hi!"}])["content"])
    for chunk in model.generate("Once upon a time", max_tokens=64, stream=True):
        print(chunk, end="", flush=True)

A Model is its weights plus one default conversation context; model.context() makes more,
each with its own KV cache and saved state. Everything goes through libqwen's public C API
(qwen/qwen.h). Failures raise QwenError with the library's message; Ctrl-C stops a generation
and raises KeyboardInterrupt.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from . import _qwen
from ._chat import json_schema_to_grammar, parse_tool_calls, render_chat, tools_grammar
from ._chat import assistant_message as _assistant_message
from ._chat import constraint as _constraint
from ._chat import schema_text as _schema_text
from ._qwen import QwenError

__all__ = ["Completion", "Context", "Model", "QwenError", "TokenLogprob", "json_schema_to_grammar", "logprobs",
           "parse_tool_calls", "render_chat", "tools_grammar", "MAX_TOP_LOGPROBS", "__version__"]
__version__: str = _qwen.version()
MAX_TOP_LOGPROBS: int = _qwen.MAX_TOP_LOGPROBS


@dataclass(frozen=True)
class TokenLogprob:
    """A token with its log-probability under the model - the log-softmax of the raw logits,
    before temperature or any other sampler stage - and the most likely tokens at that
    position (`top`: (token, logprob) pairs, most likely first)."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Completion:
    """What generate(..., logprobs=N) returns, and each chunk it streams.

    finish_reason is "eos", "stop", "length", "context_full", "callback" or "aborted"; a
    stream's chunks have None, except a last one with empty text that carries the reason and
    the counts. The texts (and tokens) of a stream's chunks concatenate to the whole."""

    text: str
    tokens: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    n_prompt_tokens: int = 0
    n_cached_tokens: int = 0
    n_generated_tokens: int = 0


def _token(t: tuple) -> TokenLogprob:
    token, lp, top = t
    return TokenLogprob(token, lp, tuple(top))


def _completion(g: "_qwen.Generation") -> Completion:
    return Completion(g.text.decode("utf-8"), [_token(t) for t in g.tokens], g.finish_reason, g.n_prompt_tokens,
                      g.n_cached_tokens, g.n_generated_tokens)


def logprobs(logits: Any, token: int, top: int = 0) -> TokenLogprob:
    """The log-probability of `token` under one row of logits (any float32 buffer: a row of
    numpy.asarray(ctx.logits())), and the `top` most likely tokens - what generate() reports
    with logprobs=top."""
    return _token(_qwen.logprobs(logits, token, top))


def _native(name: str, doc: str, of: str = "_c") -> property:
    """A read-only property forwarded to a native object."""
    return property(lambda self: getattr(getattr(self, of), name), doc=doc)


class Context:
    """A conversation: a KV cache on a model, with generation, raw evaluation and saved state.

    Consecutive generate() or chat() calls whose prompts share a prefix reuse it from the KV
    cache, so each turn costs only its new tokens. A context is used from one thread at a time
    (abort() excepted); contexts of one model run independently on as many threads. Free its
    memory early with close() or a `with` block; otherwise it goes with the object. The
    model's weights stay alive as long as a context uses them.
    """

    def __init__(self, model: "Model", n_ctx: int = 4096, threads: int = 0):
        """A fresh, empty context on `model`: n_ctx is the KV cache length in tokens (at most
        model.n_ctx_train); threads 0 uses one per core."""
        self._c = _qwen.Context(model._m, n_ctx, threads)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Frees the KV cache now; any later call raises QwenError."""
        self._c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    n_ctx = _native("n_ctx", "The KV cache length in tokens.")
    n_past = _native("n_past", "Tokens currently in the KV cache.")
    tokens = _native("tokens", "The ids of the tokens in the KV cache, in order.")

    # -- generation ------------------------------------------------------------------------

    def generate(self, prompt: str, max_tokens: int = 512, *, temperature: float | None = None,
                 top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
                 repetition_penalty: float | None = None, seed: int | None = None,
                 stop: str | Sequence[str] | None = None, stream: bool = False, greedy: bool = False,
                 ignore_eos: bool = False, grammar: str | None = None, json_schema: str | dict | bool | None = None,
                 logprobs: int | None = None) -> Any:
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

        logprobs=N (0 to MAX_TOP_LOGPROBS) returns a Completion instead of a str: the text,
        every generated token with its log-probability and the N most likely alternatives,
        and the finish reason; with stream=True the chunks are Completions.
        """
        sampling = _sampling(greedy, temperature, top_k, top_p, min_p, repetition_penalty, seed)
        sampling.grammar = grammar
        sampling.json_schema = None if json_schema is None else _schema_text(json_schema)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        args = (prompt, sampling, max_tokens, stops, ignore_eos, -1 if logprobs is None else logprobs)
        if stream:
            return self._stream(args, detailed=logprobs is not None)
        g = self._c.generate(*args, None)
        return g.text.decode("utf-8") if logprobs is None else _completion(g)

    def chat(self, messages: Sequence[dict], tools: Sequence[dict] | None = None, max_tokens: int = 512,
             stream: bool = False, *, response_format: dict | None = None, tool_choice: str | dict | None = None,
             **sampling: Any) -> Any:
        """Answers a conversation of OpenAI-style messages ({"role": ..., "content": ...}) and
        returns the assistant message {"role": "assistant", "content": text}, or with
        stream=True an iterator of text chunks. Sampling keywords are those of generate().

        tools: OpenAI function definitions, shown to the model by the chat template. The
        answer's <tool_call> blocks become "tool_calls": [{"type": "function", "function":
        {"name": ..., "arguments": {...}}}] (arguments as a dict, which the template renders
        back when the message is appended to the conversation) and leave "content".
        tool_choice constrains the answer with qwen.tools_grammar: None or "none" (default:
        free text), "auto" (text, or calls of declared tools with valid arguments),
        "required" (only calls), {"type": "function", "function": {"name": N}} (calls of N).

        response_format: {"type": "json_object"} (any JSON object, or the "schema" given
        next to the type), {"type": "json_schema", "json_schema": {"name": ..., "schema":
        {...}}} (the "schema", or the dict itself when it has no "schema" key), or
        {"type": "text"}.

        With logprobs=N the message also carries "logprobs": a list of TokenLogprob.
        """
        constraint = _constraint(tools, response_format, tool_choice)
        if constraint and (sampling.get("grammar") is not None or sampling.get("json_schema") is not None):
            raise ValueError("grammar=/json_schema= and response_format/tool_choice cannot both constrain one answer")
        prompt = render_chat(messages, tools, add_generation_prompt=True)
        out = self.generate(prompt, max_tokens, stream=stream, **constraint, **sampling)
        if stream:
            return out
        if isinstance(out, Completion):
            message = _assistant_message(out.text, tools)
            message["logprobs"] = out.tokens
            return message
        return _assistant_message(out, tools)

    def eval(self, tokens: Sequence[int], all_logits: bool = False) -> None:
        """Appends `tokens` to the context and runs the model over them; logits() then holds
        the last token's logits (every token's with all_logits=True)."""
        self._c.eval(list(tokens), all_logits)

    def reset(self, n_keep: int = 0) -> None:
        """Forgets every token at position >= n_keep (default: empties the KV cache)."""
        self._c.truncate(n_keep)

    def abort(self) -> None:
        """Stops a generation or eval running on another thread. Safe to call from any thread."""
        self._c.abort()

    def logits(self) -> memoryview:
        """The logits of the last evaluated token(s) as a read-only float32 memoryview of shape
        (rows, n_vocab) over the context's own memory, without a copy: numpy.asarray() it.
        Valid only until the next generate()/chat()/eval()/reset() - copy it to keep it."""
        return self._c.logits()

    # -- saved state -----------------------------------------------------------------------

    def save_state(self) -> bytes:
        """The context's tokens, KV cache and last logits as bytes. load_state() into a
        context of the same model (same n_ctx or larger) continues exactly from here."""
        return self._c.save_state()

    def load_state(self, state: bytes | bytearray | memoryview) -> None:
        """Restores save_state() bytes. Bytes of another model, truncated or corrupted, raise
        QwenError (status QWEN_ERR_FORMAT) and leave the context as it was."""
        self._c.load_state(state)

    def save_state_file(self, path: str | os.PathLike) -> None:
        """save_state() into a file (written whole under a temporary name, then renamed)."""
        self._c.save_state_file(os.fspath(path))

    def load_state_file(self, path: str | os.PathLike) -> None:
        """load_state() from a file written by save_state_file()."""
        self._c.load_state_file(os.fspath(path))

    def _stream(self, args: tuple, detailed: bool) -> Iterator[Any]:
        # The C library calls back with each chunk while it computes (without the GIL) on a
        # worker thread; a queue hands the chunks to this generator. Leaving the loop early
        # (break, close, garbage collection) makes the callback stop generation.
        chunks: queue.Queue = queue.Queue()
        done = object()
        stopped = threading.Event()

        def on_event(b: bytes, token: tuple | None) -> bool:
            text = b.decode("utf-8")
            chunks.put(Completion(text, [_token(token)] if token else []) if detailed else text)
            return not stopped.is_set()

        def work() -> None:
            try:
                g = self._c.generate(*args, on_event)
                chunks.put((done, g))
            except BaseException as e:  # handed to the consumer, raised there
                chunks.put(e)

        worker = threading.Thread(target=work, name="qwen-generate", daemon=True)
        worker.start()
        try:
            while True:
                item = chunks.get()
                if isinstance(item, tuple) and item[0] is done:
                    if detailed:
                        g = item[1]
                        yield Completion("", [], g.finish_reason, g.n_prompt_tokens, g.n_cached_tokens,
                                         g.n_generated_tokens)
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Not qwen_context_abort(): a request that arrives after the end would stop the
            # next call. The callback sees `stopped` at the next token.
            stopped.set()
            worker.join()


class Model(Context):
    """Loaded weights and tokenizer, with a default context: model.generate(), chat(),
    logits(), save_state() ... work on it directly, and model.context() makes more.

    Close it (or use a `with` block) to free the default context and drop the model's hold on
    the weights; the weights themselves go when no context uses them.
    """

    def __init__(self, path: str | os.PathLike, n_ctx: int = 4096, threads: int = 0):
        """Loads a GGUF file or a Hugging Face folder. n_ctx is the default context's KV cache
        length in tokens; threads 0 uses one per core (also the default for context()).
        Raises QwenError (status QWEN_ERR_IO for a missing file, QWEN_ERR_FORMAT for a file
        that is not a model)."""
        self._m = _qwen.Model(os.fspath(path))
        self._threads = threads
        super().__init__(self, n_ctx, threads)

    def context(self, n_ctx: int | None = None, threads: int | None = None) -> Context:
        """A new, empty context on this model with its own KV cache (n_ctx and threads default
        to the model's)."""
        return Context(self, self.n_ctx if n_ctx is None else n_ctx, self._threads if threads is None else threads)

    def close(self) -> None:
        """Frees the default context and drops this object's hold on the weights; any later
        call on the model raises QwenError. Other contexts keep working until closed."""
        super().close()
        self._m.close()

    n_vocab = _native("n_vocab", "Rows of the LM head (the length of a logits row).", "_m")
    n_ctx_train = _native("n_ctx_train", "The longest context the model was trained for.", "_m")
    n_embd = _native("n_embd", "Hidden size.", "_m")
    n_layer = _native("n_layer", "Number of transformer blocks.", "_m")
    eos_token = _native("eos_token", "The end-of-turn token id (<|im_end|> for Qwen2.5-Instruct), or -1.", "_m")

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        """Token ids of `text`. With special=True control-token text such as "<|im_start|>"
        becomes its id; otherwise it is encoded as plain text."""
        return self._m.tokenize(text, special)

    def detokenize(self, ids: Sequence[int], skip_special: bool = False) -> str:
        """The text of `ids`; ill-formed UTF-8 becomes U+FFFD as in Hugging Face's decoder."""
        return self._m.detokenize(list(ids), skip_special, False).decode("utf-8")

    def render_chat(self, messages: Sequence[dict], tools: Sequence[dict] | None = None,
                    add_generation_prompt: bool = True) -> str:
        """The prompt text chat() would generate from (see the module function render_chat)."""
        return render_chat(messages, tools, add_generation_prompt)


def _sampling(greedy: bool, temperature: float | None, top_k: int | None, top_p: float | None,
              min_p: float | None, repetition_penalty: float | None, seed: int | None) -> "_qwen.Sampling":
    s = _qwen.Sampling()
    s.greedy = greedy
    s.temperature, s.top_k, s.top_p, s.min_p = temperature, top_k, top_p, min_p
    s.repetition_penalty, s.seed = repetition_penalty, seed
    return s
