/*
 * qwen.h — the public C interface of libqwen, a CPU runtime for Qwen2.5-0.5B-Instruct
 * (and models of the Qwen2 architecture).
 *
 * This is the only header a caller needs. It is plain C99 and compiles as C++.
 *
 * Conventions
 *   - Every fallible function returns a qwen_status. QWEN_OK (0) is success. On failure
 *     qwen_last_error() returns a message for the calling thread naming the file, field or
 *     offset at fault; output parameters are left untouched unless documented otherwise.
 *   - Objects are opaque handles with create/free pairs. Passing NULL to a *_free function
 *     is a no-op.
 *   - Parameter structs start with `size_t struct_size`. Obtain them from the
 *     qwen_*_default_params() functions (inline, so they record the size of the struct your
 *     code was compiled with); the library reads only the fields that size covers, so new
 *     fields can be appended in later versions without breaking old callers.
 *   - Strings are UTF-8. Lengths are in bytes. Nothing returned by the library needs to be
 *     freed by the caller unless the function says so.
 *
 * Thread safety
 *   - qwen_model is immutable after loading: any number of threads may use one model at the
 *     same time (tokenize, create contexts, ...).
 *   - qwen_context is one conversation: use it from one thread at a time.
 *   - qwen_last_error() is per thread.
 *
 * Sections below marked EXPERIMENTAL may change between minor versions; everything else
 * follows the ABI version: QWEN_ABI_VERSION changes (and the SONAME with it) whenever a
 * change would break a program compiled against an earlier header.
 */
#ifndef QWEN_QWEN_H
#define QWEN_QWEN_H

#include <stddef.h>
#include <stdint.h>

/* ---- Version ------------------------------------------------------------------------ */

#define QWEN_VERSION_MAJOR 0
#define QWEN_VERSION_MINOR 1
#define QWEN_VERSION_PATCH 0
/* The SONAME is libqwen.so.QWEN_ABI_VERSION. */
#define QWEN_ABI_VERSION 0
#define QWEN_VERSION_NUMBER (QWEN_VERSION_MAJOR * 10000 + QWEN_VERSION_MINOR * 100 + QWEN_VERSION_PATCH)

#if defined(_WIN32) && !defined(QWEN_STATIC)
#  if defined(QWEN_BUILDING_LIBRARY)
#    define QWEN_API __declspec(dllexport)
#  else
#    define QWEN_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define QWEN_API __attribute__((visibility("default")))
#else
#  define QWEN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version as "MAJOR.MINOR.PATCH". Static string. Compare with the
 * QWEN_VERSION_* macros to check the header against the library actually loaded. */
QWEN_API const char *qwen_version(void);
/* QWEN_VERSION_NUMBER of the library actually loaded. */
QWEN_API unsigned qwen_version_number(void);

/* ---- Status and errors ---------------------------------------------------------------- */

typedef enum qwen_status {
    QWEN_OK = 0,
    QWEN_ERR_INVALID_ARGUMENT = 1, /* a NULL handle, a bad parameter value, a token id out of range */
    QWEN_ERR_IO = 2,               /* a file could not be opened, mapped or read */
    QWEN_ERR_FORMAT = 3,           /* a model or tokenizer file is malformed (message names where) */
    QWEN_ERR_UNSUPPORTED = 4,      /* well-formed but not supported: architecture, tensor type, ... */
    QWEN_ERR_OUT_OF_MEMORY = 5,    /* an allocation failed */
    QWEN_ERR_CONTEXT_FULL = 6,     /* the KV cache has no room for the tokens given */
    QWEN_ERR_BUFFER_TOO_SMALL = 7, /* a caller buffer is too small; the needed size is reported */
    QWEN_ERR_ABORTED = 8,          /* stopped by the caller (abort flag or callback) */
    QWEN_ERR_INPUT_TOO_LARGE = 9,  /* an input exceeds a documented limit */
    QWEN_ERR_INTERNAL = 10         /* a bug in libqwen: please report it with the message */
} qwen_status;

/* A short constant name for a status ("QWEN_ERR_FORMAT"); "QWEN_ERR_UNKNOWN" for others. */
QWEN_API const char *qwen_status_name(qwen_status status);

/* The message of the last failed call on this thread, or "" if none failed yet.
 * The pointer stays valid until the next libqwen call on the same thread. */
QWEN_API const char *qwen_last_error(void);

/* ---- Model ---------------------------------------------------------------------------- */

/* Weights, hyper-parameters and tokenizer. Immutable after load; share it across threads. */
typedef struct qwen_model qwen_model;

typedef struct qwen_model_params {
    size_t struct_size; /* set by qwen_model_default_params() */
    int use_mmap;       /* 1 (default): map the file read-only; 0: read it into memory */
} qwen_model_params;

/* Fills *params with defaults for a struct of `struct_size` bytes (use sizeof). */
QWEN_API void qwen_model_params_init(qwen_model_params *params, size_t struct_size);

static inline qwen_model_params qwen_model_default_params(void) {
    qwen_model_params p;
    qwen_model_params_init(&p, sizeof p);
    return p;
}

/* Loads a model from a GGUF file or from a Hugging Face model folder (config.json +
 * *.safetensors + tokenizer.json). params may be NULL for defaults. On success *out owns
 * the model; free it with qwen_model_free() after every context made from it is freed. */
QWEN_API qwen_status qwen_model_load(const char *path, const qwen_model_params *params,
                                     qwen_model **out);

QWEN_API void qwen_model_free(qwen_model *model);

/* Hyper-parameters. Return 0 for a NULL model. */
QWEN_API int32_t qwen_model_n_vocab(const qwen_model *model);     /* rows of the LM head */
QWEN_API int32_t qwen_model_n_ctx_train(const qwen_model *model); /* max_position_embeddings */
QWEN_API int32_t qwen_model_n_embd(const qwen_model *model);
QWEN_API int32_t qwen_model_n_layer(const qwen_model *model);

/* ---- Context -------------------------------------------------------------------------- */

/* One conversation: KV cache, scratch memory and the last logits. One thread at a time. */
typedef struct qwen_context qwen_context;

typedef enum qwen_kv_type {
    QWEN_KV_F16 = 0, /* default: half the memory, the precision llama.cpp uses */
    QWEN_KV_F32 = 1
} qwen_kv_type;

typedef struct qwen_context_params {
    size_t struct_size;   /* set by qwen_context_default_params() */
    uint32_t n_ctx;       /* KV cache length in tokens; 0 = 4096, at most the model's n_ctx_train */
    int32_t n_threads;    /* compute threads; 0 = one per core */
    qwen_kv_type kv_type; /* precision of the KV cache */
} qwen_context_params;

QWEN_API void qwen_context_params_init(qwen_context_params *params, size_t struct_size);

static inline qwen_context_params qwen_context_default_params(void) {
    qwen_context_params p;
    qwen_context_params_init(&p, sizeof p);
    return p;
}

/* Creates a context on `model` (which must outlive it). params may be NULL for defaults. */
QWEN_API qwen_status qwen_context_create(const qwen_model *model, const qwen_context_params *params,
                                         qwen_context **out);

QWEN_API void qwen_context_free(qwen_context *ctx);

/* Flags for qwen_eval(). */
#define QWEN_EVAL_ALL_LOGITS 1u /* keep the logits of every evaluated token, not only the last */

/* Appends `n_tokens` tokens at the end of the context (positions n_past .. n_past+n-1), runs
 * the model over them and stores their logits. n_tokens > 1 is a prefill; 1 is a decode step.
 * Errors: QWEN_ERR_INVALID_ARGUMENT for an id outside [0, n_vocab); QWEN_ERR_CONTEXT_FULL when
 * n_past + n_tokens > n_ctx. On error the context is unchanged. */
QWEN_API qwen_status qwen_eval(qwen_context *ctx, const int32_t *tokens, size_t n_tokens,
                               uint32_t flags);

/* One decode step of n sequences at once: tokens[i] is appended to ctxs[i], exactly as
 * qwen_eval(ctxs[i], &tokens[i], 1, 0) would (same logits), but each weight matrix is read
 * from memory once for all n, so n sequences cost little more than one (serving several
 * users, or beam-like exploration). The contexts must be distinct and on the same model; the
 * pass runs on ctxs[0]'s threads. Not thread-safe with other calls on these contexts.
 * Errors: QWEN_ERR_INVALID_ARGUMENT (NULL, n = 0, a repeated context, another model, a token
 * outside the vocabulary - the message names the index); QWEN_ERR_CONTEXT_FULL (a full
 * context); QWEN_ERR_ABORTED (qwen_context_abort() on any of them). On error no context
 * changes. */
QWEN_API qwen_status qwen_eval_batch(qwen_context *const *ctxs, const int32_t *tokens, size_t n);

/* Logits of the last qwen_eval(): `*n_rows` rows of qwen_model_n_vocab() floats, row i for
 * the i-th evaluated token (one row, the last token, unless QWEN_EVAL_ALL_LOGITS was given).
 * Owned by the context; valid until the next qwen_eval() or qwen_context_truncate().
 * Returns NULL (and *n_rows = 0) before any evaluation. n_rows may be NULL. */
QWEN_API const float *qwen_context_logits(const qwen_context *ctx, size_t *n_rows);

/* Number of tokens in the KV cache (the position of the next token). */
QWEN_API uint32_t qwen_context_n_past(const qwen_context *ctx);
/* The KV cache length given at creation. */
QWEN_API uint32_t qwen_context_n_ctx(const qwen_context *ctx);

/* Forgets every token at position >= n_keep, so a conversation can be edited or a prefix
 * reused. n_keep > n_past is QWEN_ERR_INVALID_ARGUMENT. */
QWEN_API qwen_status qwen_context_truncate(qwen_context *ctx, uint32_t n_keep);

/* The ids of the tokens in the KV cache, in order (qwen_context_n_past() of them), or NULL when
 * it is empty. Owned by the context; valid until the next call that changes the context. */
QWEN_API const int32_t *qwen_context_tokens(const qwen_context *ctx, size_t *n_tokens);

/* Asks the work running on `ctx` to stop as soon as possible. The one call that may come from
 * any thread while another thread uses the context. A qwen_eval() that sees it returns
 * QWEN_ERR_ABORTED with the context unchanged; qwen_generate() returns QWEN_OK with finish
 * reason QWEN_FINISH_ABORTED. The request is consumed by the call that sees it; a request
 * made while nothing runs stops the next qwen_eval() or qwen_generate(). */
QWEN_API void qwen_context_abort(qwen_context *ctx);

/* ---- Tokenizer ------------------------------------------------------------------------ */
/* Qwen2.5's byte-level BPE, token-for-token identical to Hugging Face tokenizers. All calls
 * only read the model: any number of threads may tokenize with one model at the same time.
 * Output buffers are the caller's; text is never NUL-terminated by these calls. */

/* Flags for qwen_tokenize(). */
#define QWEN_TOKENIZE_PARSE_SPECIAL 1u /* turn control-token text (<|im_start|>, ...) into its id */

/* Longest text qwen_tokenize() accepts, in bytes (16 MiB, about 4M tokens). */
#define QWEN_TOKENIZE_MAX_BYTES 16777216u

/* Encodes `len` bytes of `text` (UTF-8; need not be NUL-terminated; NUL bytes are ordinary
 * characters) into token ids, stored in tokens[0 .. *n_tokens). The text is NFC-normalized
 * first, as Hugging Face tokenizers does.
 * Added tokens: with QWEN_TOKENIZE_PARSE_SPECIAL every added token in the text becomes its id;
 * without it, control tokens (<|im_start|>, <|im_end|>, <|endoftext|>, <|fim_*|>, ...) are
 * encoded as plain text, so user text cannot inject them, while <tool_call> and </tool_call>
 * are still matched (as Hugging Face and llama.cpp do).
 * Ill-formed UTF-8 is accepted and kept losslessly: each ill-formed byte is encoded as its own
 * byte, so qwen_detokenize(..., QWEN_DETOKENIZE_RAW_BYTES) gives the input bytes back.
 * Errors: QWEN_ERR_INVALID_ARGUMENT (NULL model, text or n_tokens; tokens NULL with a
 * non-zero capacity); QWEN_ERR_INPUT_TOO_LARGE (len > QWEN_TOKENIZE_MAX_BYTES);
 * QWEN_ERR_BUFFER_TOO_SMALL when more than `capacity` ids result: then *n_tokens is the number
 * needed and tokens[] holds the first `capacity` of them (call with capacity 0 to measure). */
QWEN_API qwen_status qwen_tokenize(const qwen_model *model, const char *text, size_t len, uint32_t flags,
                                   int32_t *tokens, size_t capacity, size_t *n_tokens);

/* Flags for qwen_detokenize() and qwen_detokenizer_create(). */
#define QWEN_DETOKENIZE_SKIP_SPECIAL 1u /* leave control tokens out of the text */
#define QWEN_DETOKENIZE_RAW_BYTES 2u    /* the tokens' bytes as they are, even if not UTF-8 */

/* Most token ids qwen_detokenize() takes in one call (16M). */
#define QWEN_DETOKENIZE_MAX_TOKENS 16777216u

/* Decodes n_tokens ids into text, written to buf[0 .. *len). Without QWEN_DETOKENIZE_RAW_BYTES
 * the text is valid UTF-8: every maximal ill-formed byte sequence becomes one U+FFFD, exactly
 * as Hugging Face's decoder does. Unused ids (padding rows of the vocabulary) decode to "".
 * Errors: QWEN_ERR_INVALID_ARGUMENT (NULL model or len; tokens NULL with n_tokens > 0; buf
 * NULL with capacity > 0; an id outside [0, qwen_tokenizer_n_tokens()) - the message names
 * it); QWEN_ERR_INPUT_TOO_LARGE (n_tokens > QWEN_DETOKENIZE_MAX_TOKENS);
 * QWEN_ERR_BUFFER_TOO_SMALL: *len is the size needed, buf is left untouched. */
QWEN_API qwen_status qwen_detokenize(const qwen_model *model, const int32_t *tokens, size_t n_tokens,
                                     uint32_t flags, char *buf, size_t capacity, size_t *len);

/* The raw bytes of one token (possibly part of a UTF-8 character) in buf[0 .. *len).
 * Errors: QWEN_ERR_INVALID_ARGUMENT (NULL model or len, buf NULL with capacity > 0, invalid
 * id); QWEN_ERR_BUFFER_TOO_SMALL: *len is the size needed, buf untouched. */
QWEN_API qwen_status qwen_token_to_piece(const qwen_model *model, int32_t token, char *buf, size_t capacity,
                                         size_t *len);

/* Number of token ids the tokenizer knows (ids are 0 .. n-1; at most qwen_model_n_vocab()).
 * 0 for a NULL model. */
QWEN_API int32_t qwen_tokenizer_n_tokens(const qwen_model *model);

typedef enum qwen_special_token {
    QWEN_TOKEN_BOS = 0, /* tokenizer.ggml.bos_token_id / tokenizer_config.json bos_token */
    QWEN_TOKEN_EOS = 1, /* the end of a turn: <|im_end|> (151645) for Qwen2.5-Instruct */
    QWEN_TOKEN_PAD = 2  /* <|endoftext|> (151643) for Qwen2.5 */
} qwen_special_token;

/* The id of a special token as the model files declare it, or -1 if they declare none (or the
 * model is NULL, or `which` is unknown). */
QWEN_API int32_t qwen_token_special(const qwen_model *model, qwen_special_token which);

/* The id of the token whose text is exactly text[0 .. len) - an added token such as
 * "<|im_start|>" (151644), "<|im_end|>" or "<|endoftext|>", or a vocabulary entry - or -1 if
 * there is none (or model/text is NULL). Added tokens are found in O(1); a vocabulary entry
 * costs a scan. */
QWEN_API int32_t qwen_token_by_text(const qwen_model *model, const char *text, size_t len);

/* 1 if `token` is a control token (<|im_end|>, <|endoftext|>, ...: what
 * QWEN_DETOKENIZE_SKIP_SPECIAL leaves out), else 0 (also for invalid ids or a NULL model). */
QWEN_API int qwen_token_is_control(const qwen_model *model, int32_t token);

/* Streaming detokenizer: feed ids one at a time as they are generated and get the text that is
 * complete so far; it never returns half of a UTF-8 character and never drops bytes. The
 * concatenation of everything returned by push and flush equals qwen_detokenize() of the same
 * ids with the same flags. One thread at a time; the model must outlive it. */
typedef struct qwen_detokenizer qwen_detokenizer;

/* flags: QWEN_DETOKENIZE_SKIP_SPECIAL and/or QWEN_DETOKENIZE_RAW_BYTES. On success *out owns
 * the detokenizer; free it with qwen_detokenizer_free(). Errors: QWEN_ERR_INVALID_ARGUMENT. */
QWEN_API qwen_status qwen_detokenizer_create(const qwen_model *model, uint32_t flags, qwen_detokenizer **out);

/* Adds one id and writes the text it completes to buf[0 .. *len) (often 0 bytes while a
 * character is incomplete). 64 bytes always suffice for a token of at most 16 bytes; in
 * general 3 * (3 + piece length). Errors: QWEN_ERR_INVALID_ARGUMENT (NULL argument, invalid
 * id); QWEN_ERR_BUFFER_TOO_SMALL (*len = size needed). On error nothing is consumed: retry
 * with the same id. */
QWEN_API qwen_status qwen_detokenizer_push(qwen_detokenizer *detok, int32_t token, char *buf, size_t capacity,
                                           size_t *len);

/* Ends the stream: writes what is held back (an incomplete character becomes one U+FFFD, or
 * its raw bytes with QWEN_DETOKENIZE_RAW_BYTES; at most 3 bytes) and resets the detokenizer for
 * a new stream. Errors as qwen_detokenizer_push(). */
QWEN_API qwen_status qwen_detokenizer_flush(qwen_detokenizer *detok, char *buf, size_t capacity, size_t *len);

QWEN_API void qwen_detokenizer_free(qwen_detokenizer *detok);

/* ---- Sampling ------------------------------------------------------------------------- */
/* A sampler turns a row of logits into the next token through a chain of stages. It is
 * seeded and deterministic: the same seed, logits and history give the same tokens on any
 * machine and thread count. One thread at a time; the model must outlive it. */
typedef struct qwen_sampler qwen_sampler;

typedef struct qwen_logit_bias {
    int32_t token;
    float bias; /* added to the token's logit; -INFINITY bans the token */
} qwen_logit_bias;

/* The stages of the chain. Disabled stages (at their neutral value) cost nothing. */
typedef enum qwen_sampler_stage {
    QWEN_STAGE_PENALTIES = 0,   /* repetition, frequency and presence penalties */
    QWEN_STAGE_LOGIT_BIAS = 1,  /* logit_bias */
    QWEN_STAGE_TEMPERATURE = 2, /* logits / temperature */
    QWEN_STAGE_TOP_K = 3,       /* keep the top_k most likely tokens */
    QWEN_STAGE_TOP_P = 4,       /* keep the smallest set whose probability reaches top_p */
    QWEN_STAGE_MIN_P = 5,       /* drop tokens less likely than min_p * p(most likely) */
    QWEN_STAGE_TYPICAL_P = 6    /* locally typical sampling with mass typical_p */
} qwen_sampler_stage;

/* Most stages an order may list. */
#define QWEN_SAMPLER_MAX_STAGES 16

typedef struct qwen_sampler_params {
    size_t struct_size;       /* set by qwen_sampler_default_params() */
    uint64_t seed;            /* random seed (default 0xC0FFEE) */
    float temperature;        /* <= 0: greedy (argmax after penalties and bias); default 0.7 */
    int32_t top_k;            /* 0 = off; default 20 */
    float top_p;              /* 1 = off; default 0.8 */
    float min_p;              /* 0 = off (default) */
    float typical_p;          /* 1 = off (default) */
    float repetition_penalty; /* CTRL / transformers: a seen token's logit l becomes l / r if l > 0,
                                 else l * r; 1 = off; default 1.1 */
    float frequency_penalty;  /* OpenAI: l -= count * f; 0 = off (default) */
    float presence_penalty;   /* OpenAI: l -= p for every seen token; 0 = off (default) */
    int32_t penalty_last_n;   /* how many of the most recent accepted tokens (prompt included) the
                                 penalties see; -1 = all, as transformers does (default); 0 = none */
    const qwen_logit_bias *logit_bias; /* copied at creation; may be NULL */
    size_t n_logit_bias;
    const qwen_sampler_stage *order;   /* the stages in the order to apply them; NULL (default):
                                          penalties, logit bias, temperature, top-k, top-p, min-p,
                                          typical-p - the order transformers uses */
    size_t n_order;
    const char *grammar;     /* GBNF text (see "Structured output") every sampled token must
                                follow; compiled at creation; NULL (default) = none */
    const char *json_schema; /* JSON Schema text the output must validate against; "{}" or
                                "true" = any JSON value; NULL (default) = none. At most one
                                of grammar and json_schema. */
} qwen_sampler_params;

/* Fills *params with defaults: Qwen2.5-0.5B-Instruct's published generation_config
 * (temperature 0.7, top_p 0.8, top_k 20, repetition_penalty 1.1), the rest off. */
QWEN_API void qwen_sampler_params_init(qwen_sampler_params *params, size_t struct_size);

static inline qwen_sampler_params qwen_sampler_default_params(void) {
    qwen_sampler_params p;
    qwen_sampler_params_init(&p, sizeof p);
    return p;
}

/* Overwrites the fields that the model's own files declare (generation_config.json of a Hugging
 * Face folder: temperature, top_p, top_k, repetition_penalty; do_sample false gives
 * temperature 0). Fields the files do not declare are left as they are. */
QWEN_API qwen_status qwen_sampler_params_from_model(const qwen_model *model, qwen_sampler_params *params);

/* With a grammar or json_schema, each sample() only draws among the tokens that keep the output
 * a prefix of the grammar's language (the others count as -INFINITY before every stage), and
 * <|im_end|> / <|endoftext|> only where the output is complete; other control tokens never.
 * The sampler then tracks the grammar's state: qwen_sampler_accept() does not advance it (the
 * prompt is not output); qwen_sampler_reset() and every qwen_generate*() call restart it (each
 * call's output is one text of the grammar). Saved sampler state (qwen_context_state_save())
 * includes the grammar's progress; it loads only into a sampler with the same grammar. The
 * vocabulary is prepared for grammars once per model (~0.1 s, by the first such sampler).
 * Errors: QWEN_ERR_INVALID_ARGUMENT for a NULL argument or a value out of range (the message
 * names the field): temperature or min_p NaN, top_k < 0, top_p/typical_p outside (0, 1],
 * min_p outside [0, 1], repetition_penalty <= 0, penalty_last_n < -1, a bias token outside the
 * vocabulary or a NaN bias, an unknown or repeated stage, a grammar or schema that does not
 * compile (the message gives the line and column, or the schema keyword and its JSON pointer),
 * both grammar and json_schema set. */
QWEN_API qwen_status qwen_sampler_create(const qwen_model *model, const qwen_sampler_params *params,
                                         qwen_sampler **out);
QWEN_API void qwen_sampler_free(qwen_sampler *sampler);

/* Samples one token from `n_logits` logits (qwen_model_n_vocab() of them; the array is not
 * modified) and accepts it, i.e. adds it to the history the penalties see (and advances the
 * grammar). If every token is banned (all -INFINITY, or none the grammar allows) the result is
 * QWEN_ERR_INVALID_ARGUMENT. */
QWEN_API qwen_status qwen_sampler_sample(qwen_sampler *sampler, const float *logits, size_t n_logits,
                                         int32_t *token);

/* Adds tokens that were not sampled (the prompt) to the history the penalties see. */
QWEN_API qwen_status qwen_sampler_accept(qwen_sampler *sampler, const int32_t *tokens, size_t n_tokens);

/* Forgets the history and restarts the random stream from the seed given at creation. */
QWEN_API void qwen_sampler_reset(qwen_sampler *sampler);

/* A token and its log-probability. */
typedef struct qwen_token_logprob {
    int32_t token;
    float logprob;
} qwen_token_logprob;

/* Most alternatives qwen_logprobs() and qwen_generate() report per token. */
#define QWEN_MAX_TOP_LOGPROBS 20

/* Log-probabilities under the model's own distribution (log-softmax of the raw logits, before
 * any sampler stage): *logprob of `token` (if logprob is not NULL) and the n_top most likely
 * tokens, most likely first, into top[0 .. n_top) (ties: the lower id first). */
QWEN_API qwen_status qwen_logprobs(const float *logits, size_t n_logits, int32_t token, float *logprob,
                                   qwen_token_logprob *top, size_t n_top);

/* ---- Chat ----------------------------------------------------------------------------- */
/* Qwen2.5's chat format (ChatML), rendered byte for byte as its official Jinja template does:
 * the default system prompt when none is given, tool definitions, tool calls and tool
 * responses. Pure functions of their arguments: call them from any thread. */

typedef struct qwen_chat_message {
    const char *role;       /* "system", "user", "assistant" or "tool" */
    const char *content;    /* UTF-8, NUL-terminated; NULL = no content key (an error where the
                               template prints it: user turns, a system prompt without tools) */
    const char *tool_calls; /* assistant messages: a JSON array of calls, each
                               {"name": ..., "arguments": {...}} or OpenAI's
                               {"type": "function", "function": {...}}; NULL = none */
} qwen_chat_message;

/* Flags for qwen_chat_render(). */
#define QWEN_CHAT_ADD_GENERATION_PROMPT 1u /* end with "<|im_start|>assistant\n" */

/* Renders n_messages messages into buf[0 .. *len) (not NUL-terminated). tools_json is NULL or
 * a JSON array of tool definitions (OpenAI style {"type": "function", "function": {...}}),
 * written into the system turn as the template does.
 * Errors: QWEN_ERR_INVALID_ARGUMENT (NULL pointers, an unknown role, tool_calls or tools_json
 * that is not valid JSON of the documented shape - the message names the message index and
 * the problem); QWEN_ERR_BUFFER_TOO_SMALL: *len is the size needed, buf untouched. */
QWEN_API qwen_status qwen_chat_render(const qwen_chat_message *messages, size_t n_messages, const char *tools_json,
                                      uint32_t flags, char *buf, size_t capacity, size_t *len);

/* The same from an OpenAI-style JSON array of messages ({"role": ..., "content": ...,
 * "tool_calls": [...]}), as transformers' apply_chat_template takes them. */
QWEN_API qwen_status qwen_chat_render_json(const char *messages_json, const char *tools_json, uint32_t flags,
                                           char *buf, size_t capacity, size_t *len);

/* ---- Structured output ---------------------------------------------------------------- */
/* Grammars for qwen_sampler_params.grammar / .json_schema, and Qwen2.5's tool calls. Pure
 * functions of their arguments: call them from any thread. Outputs use the buffer protocol:
 * the result goes to buf[0 .. *len) (not NUL-terminated); QWEN_ERR_BUFFER_TOO_SMALL leaves buf
 * untouched and sets *len to the size needed.
 *
 * Grammars are llama.cpp's GBNF: `name ::= ...` rules, | alternatives, ( ) groups, "literals"
 * and [character classes] with \n \t \\ \" \xHH \uHHHH escapes, [^...], `.` (any character),
 * * + ? {m} {m,} {m,n} repetitions, # comments; the start rule is `root`. */

/* The GBNF grammar qwen_sampler_params.json_schema compiles to, for a JSON Schema text.
 * Supported: type (one or a list), properties (written in schema order), required,
 * additionalProperties (false; true or absent write only the declared properties; a schema
 * only without properties), enum, const, items, minItems, maxItems, minLength, maxLength,
 * pattern (a regex subset: literals, classes, ., groups, |, quantifiers, ^ $), format (date,
 * time, date-time, uuid, email), integer minimum / maximum / exclusiveMinimum /
 * exclusiveMaximum, anyOf, oneOf (as anyOf), allOf of object schemas, $ref to "#", "#/$defs/..."
 * and "#/definitions/..." (recursion included); "{}" or "true" is any JSON value. Whitespace
 * between tokens is bounded (a space, or a newline and up to 20 spaces or tabs).
 * Errors: QWEN_ERR_INVALID_ARGUMENT for text that is not JSON (with the byte offset) or a
 * keyword that is not supported (named, with its JSON pointer: nothing is silently ignored
 * except annotations such as title and description). */
QWEN_API qwen_status qwen_json_schema_to_grammar(const char *schema_json, char *buf, size_t capacity,
                                                 size_t *len);

/* A GBNF grammar for an answer to a conversation with tools (tools_json: a JSON array of tool
 * definitions, OpenAI style {"type": "function", "function": {"name", "parameters"}} or plain
 * {"name", "parameters"}): either plain text that does not start with '<', or one or more
 * `<tool_call>\n{"name": <a declared name>, "arguments": <its parameters>}\n</tool_call>`
 * blocks separated by "\n", each call's arguments following its tool's JSON Schema. One block
 * is the rule `tool-call`: replace the first line with `root ::= tool-call ( "\n" tool-call )*`
 * to require calls. Errors: QWEN_ERR_INVALID_ARGUMENT naming the tool and the problem. */
QWEN_API qwen_status qwen_tools_grammar(const char *tools_json, char *buf, size_t capacity, size_t *len);

/* Reads the tool calls out of a model's answer: a JSON object in the shape of an assistant
 * message, {"content": <the text outside the calls>, "tool_calls": [{"name": ..., "arguments":
 * {...}}, ...]}, which qwen_chat_render_json() takes back. A block counts when it holds a JSON
 * object with a string "name"; a malformed block stays in the content. Whitespace around the
 * calls is dropped. Errors: QWEN_ERR_INVALID_ARGUMENT for NULL pointers. */
QWEN_API qwen_status qwen_parse_tool_calls(const char *text, char *buf, size_t capacity, size_t *len);

/* ---- Generation ----------------------------------------------------------------------- */

typedef enum qwen_finish_reason {
    QWEN_FINISH_NONE = 0,         /* not finished (only seen inside a callback) */
    QWEN_FINISH_EOS = 1,          /* the model ended its turn: <|im_end|> or <|endoftext|> */
    QWEN_FINISH_STOP_STRING = 2,  /* a caller-given stop string appeared (it is not output) */
    QWEN_FINISH_LENGTH = 3,       /* max_tokens generated */
    QWEN_FINISH_CONTEXT_FULL = 4, /* the KV cache is full */
    QWEN_FINISH_CALLBACK = 5,     /* the callback returned non-zero */
    QWEN_FINISH_ABORTED = 6       /* qwen_context_abort() */
} qwen_finish_reason;

/* What the callback sees after each generated token. */
typedef struct qwen_generate_event {
    int32_t token;      /* the token just generated; -1 for the final event that releases text
                           held back at the end */
    const char *text;   /* the text this step releases (valid UTF-8, not NUL-terminated; valid
                           only during the callback). Text is held back while it is an
                           incomplete character or could be the start of a stop string, so
                           it may be empty; the concatenation over all events is the output. */
    size_t text_len;
    float logprob;      /* log-probability of `token` under the model; 0 unless logprobs >= 0 */
    const qwen_token_logprob *top; /* the `logprobs` most likely tokens, or NULL */
    size_t n_top;
} qwen_generate_event;

/* Return 0 to go on, non-zero to stop (finish reason QWEN_FINISH_CALLBACK). */
typedef int (*qwen_generate_callback)(const qwen_generate_event *event, void *user_data);

/* Flags for qwen_generate_params.flags. */
#define QWEN_GENERATE_KEEP_SPECIAL 1u /* control tokens the model generates appear in the text */
#define QWEN_GENERATE_IGNORE_EOS 2u   /* do not stop at <|im_end|> / <|endoftext|> */

/* Most stop strings, and longest stop string in bytes. */
#define QWEN_MAX_STOP_STRINGS 16
#define QWEN_MAX_STOP_BYTES 256

typedef struct qwen_generate_params {
    size_t struct_size;              /* set by qwen_generate_default_params() */
    int32_t max_tokens;              /* most tokens to generate; 0 = until EOS or a full context;
                                        default 512 */
    const char *const *stop;         /* stop strings (UTF-8, NUL-terminated, non-empty) */
    size_t n_stop;
    uint32_t flags;                  /* QWEN_GENERATE_* */
    int32_t logprobs;                /* -1 (default): none; 0: the chosen token's; n > 0: also the
                                        n most likely (at most QWEN_MAX_TOP_LOGPROBS) */
    qwen_generate_callback callback; /* may be NULL */
    void *user_data;
} qwen_generate_params;

QWEN_API void qwen_generate_params_init(qwen_generate_params *params, size_t struct_size);

static inline qwen_generate_params qwen_generate_default_params(void) {
    qwen_generate_params p;
    qwen_generate_params_init(&p, sizeof p);
    return p;
}

typedef struct qwen_generate_result {
    size_t struct_size;                /* set by the caller (sizeof); the library writes only as
                                          many bytes */
    qwen_finish_reason finish_reason;
    uint32_t n_prompt_tokens;          /* tokens in the prompt */
    uint32_t n_cached_tokens;          /* of which were already in the KV cache (not evaluated) */
    uint32_t n_generated_tokens;       /* tokens sampled */
    double prompt_ms;                  /* evaluating the uncached prompt tokens */
    double generate_ms;                /* from the first sampled token to the end */
    double time_to_first_token_ms;     /* from the call to the first sampled token */
} qwen_generate_result;

/* Generates a continuation of `prompt`: the whole sequence the model should see (the full
 * conversation so far, not only its new part). Tokens already in the KV cache as a prefix of
 * the prompt are reused: only the rest is evaluated, so the next turn of a chat costs only its
 * new tokens. Then it samples with `sampler` (NULL: greedy) until a finish reason, calling
 * params->callback after every token. The prompt and the generated tokens are left in the
 * context except the last sampled one, which was never evaluated (so after n generated tokens
 * qwen_context_n_past() is n_prompt + n - 1; qwen_context_tokens() lists them); the next call
 * with the conversation so far reuses all of them. params may be NULL (defaults); result may
 * be NULL.
 * Stopping (EOS, stop string, length, callback, abort, full context) is success: QWEN_OK
 * with the reason in result->finish_reason.
 * Errors: QWEN_ERR_INVALID_ARGUMENT (NULL ctx/prompt, n_prompt 0, an invalid id, bad params);
 * QWEN_ERR_CONTEXT_FULL when the prompt does not fit; errors of qwen_eval(). */
QWEN_API qwen_status qwen_generate(qwen_context *ctx, qwen_sampler *sampler, const int32_t *prompt,
                                   size_t n_prompt, const qwen_generate_params *params,
                                   qwen_generate_result *result);

/* qwen_generate() on text, tokenized with QWEN_TOKENIZE_PARSE_SPECIAL (so ChatML written by
 * hand works). */
QWEN_API qwen_status qwen_generate_text(qwen_context *ctx, qwen_sampler *sampler, const char *prompt, size_t len,
                                        const qwen_generate_params *params, qwen_generate_result *result);

/* qwen_generate() on a conversation rendered by qwen_chat_render() with the generation prompt.
 * Call it again with the assistant's answer and the next user message appended: the shared
 * prefix is not evaluated again. */
QWEN_API qwen_status qwen_generate_chat(qwen_context *ctx, qwen_sampler *sampler, const qwen_chat_message *messages,
                                        size_t n_messages, const char *tools_json,
                                        const qwen_generate_params *params, qwen_generate_result *result);

/* ---- Saved state ---------------------------------------------------------------------- */
/* A context's state - its tokens, KV cache and last logits - and optionally a sampler's random
 * stream and history, as bytes. Loading it into a fresh context of the same model (same n_ctx
 * or larger, any kv_type) and a sampler made with the same params continues exactly as if
 * nothing had stopped. The bytes are checked when loaded: a state of another model, a
 * truncated or corrupted buffer gives QWEN_ERR_FORMAT and leaves the context and sampler
 * unchanged. `sampler` may be NULL on both sides. */

/* The bytes qwen_context_state_save() needs now. */
QWEN_API qwen_status qwen_context_state_size(const qwen_context *ctx, const qwen_sampler *sampler, size_t *size);
/* Errors: QWEN_ERR_BUFFER_TOO_SMALL (*len = size needed, buf untouched). */
QWEN_API qwen_status qwen_context_state_save(const qwen_context *ctx, const qwen_sampler *sampler, void *buf,
                                             size_t capacity, size_t *len);
QWEN_API qwen_status qwen_context_state_load(qwen_context *ctx, qwen_sampler *sampler, const void *buf, size_t len);
/* The same through a file (written whole to a temporary name, then renamed). */
QWEN_API qwen_status qwen_context_state_save_file(const qwen_context *ctx, const qwen_sampler *sampler,
                                                  const char *path);
QWEN_API qwen_status qwen_context_state_load_file(qwen_context *ctx, qwen_sampler *sampler, const char *path);

/* ---- Quantization --------------------------------------------------------------------- */
/* Converts an F32/F16/BF16 model (GGUF file or Hugging Face folder) into a GGUF file of one of
 * llama.cpp's file types, tensor for tensor what llama.cpp's `llama-quantize` writes without an
 * importance matrix: the same type per tensor (embeddings, attn_v and ffn_down of some layers
 * get more bits; matrices whose rows are not a whole number of 256-element blocks fall back to
 * a 32-element format), the same bytes, and every metadata key of the input. */

/* File types, numbered as llama.cpp's LLAMA_FTYPE_* (the value of general.file_type). */
typedef enum qwen_ftype {
    QWEN_FTYPE_F32 = 0,
    QWEN_FTYPE_F16 = 1,
    QWEN_FTYPE_Q4_0 = 2,
    QWEN_FTYPE_Q4_1 = 3,
    QWEN_FTYPE_Q8_0 = 7,
    QWEN_FTYPE_Q5_0 = 8,
    QWEN_FTYPE_Q5_1 = 9,
    QWEN_FTYPE_Q4_K_S = 14,
    QWEN_FTYPE_Q4_K_M = 15,
    QWEN_FTYPE_Q5_K_S = 16,
    QWEN_FTYPE_Q5_K_M = 17,
    QWEN_FTYPE_Q6_K = 18,
    QWEN_FTYPE_IQ4_NL = 25,
    QWEN_FTYPE_IQ4_XS = 30,
    QWEN_FTYPE_BF16 = 32
} qwen_ftype;

/* What the progress callback sees before each tensor is written. */
typedef struct qwen_quantize_progress {
    size_t index;         /* 0-based, in file order */
    size_t count;         /* tensors in the file */
    const char *name;     /* GGUF name ("blk.0.attn_q.weight"); valid during the callback */
    const char *src_type; /* ggml type names: "f16", "q4_K", ... (static strings) */
    const char *dst_type;
    uint64_t src_bytes;   /* the tensor's bytes in the input and in the output */
    uint64_t dst_bytes;
} qwen_quantize_progress;

/* Return 0 to go on, non-zero to cancel (qwen_model_quantize() then returns QWEN_ERR_ABORTED). */
typedef int (*qwen_quantize_callback)(const qwen_quantize_progress *progress, void *user_data);

typedef struct qwen_quantize_params {
    size_t struct_size;              /* set by qwen_quantize_default_params() */
    qwen_ftype ftype;                /* default QWEN_FTYPE_Q8_0 */
    int32_t n_threads;               /* <= 0 (default): the OpenMP default */
    int pure;                        /* 1: every matrix the ftype's base type (no per-tensor mix);
                                        default 0 */
    int allow_requantize;            /* 1: accept quantized input tensors (dequantized first, so
                                        quality suffers); default 0 */
    qwen_quantize_callback callback; /* may be NULL */
    void *user_data;
} qwen_quantize_params;

QWEN_API void qwen_quantize_params_init(qwen_quantize_params *params, size_t struct_size);

static inline qwen_quantize_params qwen_quantize_default_params(void) {
    qwen_quantize_params p;
    qwen_quantize_params_init(&p, sizeof p);
    return p;
}

/* Quantizes the model at src_path (GGUF file or Hugging Face folder) into a GGUF file at
 * dst_path, one tensor at a time (the input is mapped, never held whole in float). The file is
 * written under dst_path + ".tmp" and renamed at the end: on any error, and on cancel, there is
 * no file at dst_path (an existing one is left as it was). params may be NULL (defaults).
 * Errors: QWEN_ERR_INVALID_ARGUMENT (NULL path, an ftype not in qwen_ftype, dst_path equal to
 * src_path); QWEN_ERR_IO (the input cannot be read, the output cannot be written);
 * QWEN_ERR_FORMAT (a malformed input, named with the offset); QWEN_ERR_UNSUPPORTED (not a
 * qwen2 model; a tensor of a type that cannot be converted, or an already quantized tensor
 * without allow_requantize - the message names the tensor); QWEN_ERR_ABORTED (the callback
 * cancelled). */
QWEN_API qwen_status qwen_model_quantize(const char *src_path, const char *dst_path,
                                         const qwen_quantize_params *params);

/* llama.cpp's name of a file type ("Q4_K_M", "F16", ...); NULL for a value not in qwen_ftype. */
QWEN_API const char *qwen_ftype_name(qwen_ftype ftype);

/* The file type of a name, case-insensitively ("q4_k_m" -> QWEN_FTYPE_Q4_K_M).
 * Errors: QWEN_ERR_INVALID_ARGUMENT (NULL, or not a name qwen_ftype_name() returns; the
 * message lists the valid names). */
QWEN_API qwen_status qwen_ftype_from_name(const char *name, qwen_ftype *out);

#ifdef __cplusplus
}
#endif

#endif /* QWEN_QWEN_H */
