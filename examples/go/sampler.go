package qwen

/*
#include <qwen/qwen.h>
#include <stdlib.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// SamplerParams are sampling settings; start from DefaultSamplerParams.
type SamplerParams struct {
	Seed              uint64
	Temperature       float32 // <= 0: greedy
	TopK              int32   // 0 = off
	TopP              float32 // 1 = off
	MinP              float32 // 0 = off
	TypicalP          float32 // 1 = off
	RepetitionPenalty float32 // 1 = off
	FrequencyPenalty  float32
	PresencePenalty   float32
	PenaltyLastN      int32 // -1 = all
	// Structured output, at most one of the two ("" = none): GBNF text every sampled token
	// must follow (see ToolsGrammar), or a JSON Schema the output must validate against.
	Grammar    string
	JSONSchema string
}

func defaultCSamplerParams() C.qwen_sampler_params {
	var p C.qwen_sampler_params
	C.qwen_sampler_params_init(&p, C.size_t(unsafe.Sizeof(p)))
	return p
}

// DefaultSamplerParams are the library's defaults: Qwen2.5-Instruct's published
// generation_config (temperature 0.7, top_p 0.8, top_k 20, repetition_penalty 1.1).
func DefaultSamplerParams() SamplerParams {
	p := defaultCSamplerParams()
	return SamplerParams{
		Seed: uint64(p.seed), Temperature: float32(p.temperature), TopK: int32(p.top_k),
		TopP: float32(p.top_p), MinP: float32(p.min_p), TypicalP: float32(p.typical_p),
		RepetitionPenalty: float32(p.repetition_penalty), FrequencyPenalty: float32(p.frequency_penalty),
		PresencePenalty: float32(p.presence_penalty), PenaltyLastN: int32(p.penalty_last_n),
	}
}

// Sampler turns logits into tokens, seeded and reproducible. One goroutine at a time.
type Sampler struct {
	ptr   *C.qwen_sampler
	model *Model // keeps the model reachable while the sampler is
}

// NewSampler creates a sampler for this model.
func (m *Model) NewSampler(params SamplerParams) (*Sampler, error) {
	defer runtime.KeepAlive(m)
	p := defaultCSamplerParams()
	p.seed = C.uint64_t(params.Seed)
	p.temperature = C.float(params.Temperature)
	p.top_k = C.int32_t(params.TopK)
	p.top_p = C.float(params.TopP)
	p.min_p = C.float(params.MinP)
	p.typical_p = C.float(params.TypicalP)
	p.repetition_penalty = C.float(params.RepetitionPenalty)
	p.frequency_penalty = C.float(params.FrequencyPenalty)
	p.presence_penalty = C.float(params.PresencePenalty)
	p.penalty_last_n = C.int32_t(params.PenaltyLastN)
	for _, f := range []struct {
		name, text string
		field      **C.char
	}{{"grammar", params.Grammar, &p.grammar}, {"json_schema", params.JSONSchema, &p.json_schema}} {
		if f.text == "" {
			continue
		}
		cs, err := cStringField(f.name, f.text)
		if err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cs))
		*f.field = cs
	}
	s := &Sampler{model: m}
	if err := call(func() C.qwen_status { return C.qwen_sampler_create(m.ptr, &p, &s.ptr) }); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(s, (*Sampler).Close)
	return s, nil
}

// Sample picks a token from one row of logits and adds it to the history the penalties see.
func (s *Sampler) Sample(logits []float32) (int32, error) {
	defer runtime.KeepAlive(s)
	var token C.int32_t
	var p *C.float
	if len(logits) > 0 {
		p = (*C.float)(unsafe.Pointer(&logits[0]))
	}
	err := call(func() C.qwen_status { return C.qwen_sampler_sample(s.ptr, p, C.size_t(len(logits)), &token) })
	return int32(token), err
}

// Close frees the sampler. Calling it again is a no-op.
func (s *Sampler) Close() error {
	runtime.SetFinalizer(s, nil)
	C.qwen_sampler_free(s.ptr)
	s.ptr = nil
	return nil
}
