package qwen

/*
#include <qwen/qwen.h>
#include <stdint.h>
#include <stdlib.h>

extern int qwenGoEvent(qwen_generate_event *event, uintptr_t handle);

static int qwen_go_trampoline(const qwen_generate_event *event, void *user_data) {
	return qwenGoEvent((qwen_generate_event *)event, (uintptr_t)user_data);
}

// The handle travels as user_data; the cast stays on the C side, where it is an integer.
static void qwen_go_set_callback(qwen_generate_params *p, uintptr_t handle) {
	p->callback = qwen_go_trampoline;
	p->user_data = (void *)handle;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// KVType is the precision of the KV cache.
type KVType int

const (
	KVF16 KVType = C.QWEN_KV_F16
	KVF32 KVType = C.QWEN_KV_F32
)

// ContextParams say how to create a context; start from DefaultContextParams.
type ContextParams struct {
	NCtx     uint32 // KV cache length in tokens; 0 = 4096
	NThreads int32  // compute threads; 0 = one per core
	KVType   KVType
}

// DefaultContextParams are the library's defaults (qwen_context_params_init).
func DefaultContextParams() ContextParams {
	var p C.qwen_context_params
	C.qwen_context_params_init(&p, C.size_t(unsafe.Sizeof(p)))
	return ContextParams{NCtx: uint32(p.n_ctx), NThreads: int32(p.n_threads), KVType: KVType(p.kv_type)}
}

// Context is one conversation: KV cache, scratch memory and the last logits. One goroutine
// at a time, except Abort.
type Context struct {
	ptr   *C.qwen_context
	model *Model // keeps the model reachable (and unfinalized) while the context is
	// abortMu orders Abort (from any goroutine) against Close: an Abort after Close is a
	// no-op instead of a use after free.
	abortMu sync.Mutex
}

// NewContext creates a conversation on this model.
func (m *Model) NewContext(params ContextParams) (*Context, error) {
	defer runtime.KeepAlive(m)
	var p C.qwen_context_params
	C.qwen_context_params_init(&p, C.size_t(unsafe.Sizeof(p)))
	p.n_ctx = C.uint32_t(params.NCtx)
	p.n_threads = C.int32_t(params.NThreads)
	p.kv_type = C.qwen_kv_type(params.KVType)
	c := &Context{model: m}
	if err := call(func() C.qwen_status { return C.qwen_context_create(m.ptr, &p, &c.ptr) }); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(c, (*Context).Close)
	return c, nil
}

// Close frees the context. Calling it again is a no-op.
func (c *Context) Close() error {
	runtime.SetFinalizer(c, nil)
	c.abortMu.Lock()
	defer c.abortMu.Unlock()
	C.qwen_context_free(c.ptr)
	c.ptr = nil
	return nil
}

// Abort asks the generation or eval running on the context to stop as soon as possible; the
// one method another goroutine may call meanwhile. Generate then returns FinishAborted (no
// error), Eval an error with StatusAborted. A request made while nothing runs stops the next
// call; after Close it does nothing.
func (c *Context) Abort() {
	c.abortMu.Lock()
	defer c.abortMu.Unlock()
	if c.ptr != nil {
		C.qwen_context_abort(c.ptr)
	}
}

// Eval appends tokens to the conversation and runs the model over them.
func (c *Context) Eval(tokens []int32) error {
	defer runtime.KeepAlive(c)
	var p *C.int32_t
	if len(tokens) > 0 {
		p = (*C.int32_t)(unsafe.Pointer(&tokens[0]))
	}
	return call(func() C.qwen_status { return C.qwen_eval(c.ptr, p, C.size_t(len(tokens)), 0) })
}

// Logits returns a copy of the logits of the last evaluated token (NVocab floats), or nil
// before any evaluation.
func (c *Context) Logits() []float32 {
	defer runtime.KeepAlive(c)
	var rows C.size_t
	p := C.qwen_context_logits(c.ptr, &rows)
	if p == nil || rows == 0 {
		return nil
	}
	n := c.model.NVocab()
	last := unsafe.Slice((*float32)(unsafe.Pointer(p)), int(rows)*n)[(int(rows)-1)*n:]
	return append([]float32(nil), last...)
}

// Tokens returns a copy of the tokens in the KV cache, in order.
func (c *Context) Tokens() []int32 {
	defer runtime.KeepAlive(c)
	var n C.size_t
	p := C.qwen_context_tokens(c.ptr, &n)
	if p == nil {
		return nil
	}
	return append([]int32(nil), unsafe.Slice((*int32)(unsafe.Pointer(p)), int(n))...)
}

// NPast is the number of tokens in the KV cache.
func (c *Context) NPast() int {
	defer runtime.KeepAlive(c)
	return int(C.qwen_context_n_past(c.ptr))
}

// Truncate forgets every token at position >= nKeep.
func (c *Context) Truncate(nKeep int) error {
	defer runtime.KeepAlive(c)
	return call(func() C.qwen_status { return C.qwen_context_truncate(c.ptr, C.uint32_t(nKeep)) })
}

// GenerateOptions control a generation; start from DefaultGenerateOptions.
type GenerateOptions struct {
	MaxTokens   int32    // most tokens to generate; 0 = until EOS or a full context
	Stop        []string // stop strings (not part of the output)
	KeepSpecial bool     // control tokens the model generates appear in the text
	IgnoreEOS   bool     // do not stop at <|im_end|> / <|endoftext|>
	Logprobs    bool     // report each token's log-probability in Event.Logprob
}

// DefaultGenerateOptions are the library's defaults (qwen_generate_params_init).
func DefaultGenerateOptions() GenerateOptions {
	var p C.qwen_generate_params
	C.qwen_generate_params_init(&p, C.size_t(unsafe.Sizeof(p)))
	return GenerateOptions{
		MaxTokens:   int32(p.max_tokens),
		KeepSpecial: p.flags&C.QWEN_GENERATE_KEEP_SPECIAL != 0,
		IgnoreEOS:   p.flags&C.QWEN_GENERATE_IGNORE_EOS != 0,
		Logprobs:    p.logprobs >= 0,
	}
}

// Event is what the streaming callback sees after each generated token.
type Event struct {
	Token   int32  // the token just generated; -1 for the final event releasing held-back text
	Text    string // the text this step releases (may be empty); all of them make the output
	Logprob float32
}

// FinishReason says why a generation ended.
type FinishReason int

const (
	FinishEOS         FinishReason = C.QWEN_FINISH_EOS
	FinishStopString  FinishReason = C.QWEN_FINISH_STOP_STRING
	FinishLength      FinishReason = C.QWEN_FINISH_LENGTH
	FinishContextFull FinishReason = C.QWEN_FINISH_CONTEXT_FULL
	FinishCallback    FinishReason = C.QWEN_FINISH_CALLBACK // the callback returned false
	FinishAborted     FinishReason = C.QWEN_FINISH_ABORTED
)

func (r FinishReason) String() string {
	names := [...]string{"none", "eos", "stop string", "length", "context full", "callback", "aborted"}
	if int(r) >= 0 && int(r) < len(names) {
		return names[r]
	}
	return fmt.Sprintf("FinishReason(%d)", int(r))
}

// Result is the outcome of a generation.
type Result struct {
	FinishReason     FinishReason
	NPromptTokens    int
	NCachedTokens    int // prompt tokens found in the KV cache, not evaluated again
	NGeneratedTokens int
	PromptMs         float64
	GenerateMs       float64
}

// Generate generates a continuation of prompt (the whole sequence; a prefix already in the
// KV cache is reused) with sampler (nil: greedy), calling onEvent (may be nil) after every
// token; returning false stops it. A panic in onEvent stops the generation and is raised
// again from Generate.
func (c *Context) Generate(sampler *Sampler, prompt []int32, opts GenerateOptions, onEvent func(Event) bool) (Result, error) {
	defer runtime.KeepAlive(c)
	var p *C.int32_t
	if len(prompt) > 0 {
		p = (*C.int32_t)(unsafe.Pointer(&prompt[0]))
	}
	return c.run(sampler, opts, onEvent, func(s *C.qwen_sampler, params *C.qwen_generate_params, r *C.qwen_generate_result) C.qwen_status {
		return C.qwen_generate(c.ptr, s, p, C.size_t(len(prompt)), params, r)
	})
}

// GenerateChat is Generate on a conversation rendered with Qwen2.5's chat template and the
// generation prompt (toolsJSON: "" or a JSON array of tool definitions). Call it again with
// the answer and the next user message appended: the shared prefix is not evaluated again.
func (c *Context) GenerateChat(sampler *Sampler, messages []Message, toolsJSON string, opts GenerateOptions,
	onEvent func(Event) bool) (Result, error) {
	defer runtime.KeepAlive(c)
	chat, err := newCChat(messages, toolsJSON)
	if err != nil {
		return Result{}, err
	}
	defer chat.free()
	return c.run(sampler, opts, onEvent, func(s *C.qwen_sampler, params *C.qwen_generate_params, r *C.qwen_generate_result) C.qwen_status {
		return C.qwen_generate_chat(c.ptr, s, chat.ptr(), C.size_t(len(chat.messages)), chat.tools, params, r)
	})
}

func (c *Context) run(sampler *Sampler, opts GenerateOptions, onEvent func(Event) bool,
	generate func(*C.qwen_sampler, *C.qwen_generate_params, *C.qwen_generate_result) C.qwen_status) (Result, error) {
	defer runtime.KeepAlive(sampler)
	var params C.qwen_generate_params
	C.qwen_generate_params_init(&params, C.size_t(unsafe.Sizeof(params)))
	params.max_tokens = C.int32_t(opts.MaxTokens)
	params.flags = 0
	if opts.KeepSpecial {
		params.flags |= C.QWEN_GENERATE_KEEP_SPECIAL
	}
	if opts.IgnoreEOS {
		params.flags |= C.QWEN_GENERATE_IGNORE_EOS
	}
	params.logprobs = -1
	if opts.Logprobs {
		params.logprobs = 0
	}
	// params lives in Go memory, so what it points to must be C memory: the stop array too.
	if n := len(opts.Stop); n > 0 {
		array := C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil))))
		defer C.free(array)
		stop := unsafe.Slice((**C.char)(array), n)
		for i, s := range opts.Stop {
			cs, err := cStringField(fmt.Sprintf("stop[%d]", i), s)
			if err != nil {
				return Result{}, err
			}
			defer C.free(unsafe.Pointer(cs))
			stop[i] = cs
		}
		params.stop = &stop[0]
		params.n_stop = C.size_t(n)
	}
	g := &generation{onEvent: onEvent}
	if onEvent != nil {
		h := cgo.NewHandle(g)
		defer h.Delete()
		C.qwen_go_set_callback(&params, C.uintptr_t(h))
	}
	var s *C.qwen_sampler
	if sampler != nil {
		s = sampler.ptr
	}
	var r C.qwen_generate_result
	r.struct_size = C.size_t(unsafe.Sizeof(r))
	err := call(func() C.qwen_status { return generate(s, &params, &r) })
	if g.panicked {
		panic(g.panicVal)
	}
	if err != nil {
		return Result{}, err
	}
	return Result{
		FinishReason:     FinishReason(r.finish_reason),
		NPromptTokens:    int(r.n_prompt_tokens),
		NCachedTokens:    int(r.n_cached_tokens),
		NGeneratedTokens: int(r.n_generated_tokens),
		PromptMs:         float64(r.prompt_ms),
		GenerateMs:       float64(r.generate_ms),
	}, nil
}
