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

// ModelParams says how to load a model; start from DefaultModelParams.
type ModelParams struct {
	UseMmap bool // map the file read-only (default) instead of reading it into memory
}

// DefaultModelParams are the library's defaults (qwen_model_params_init).
func DefaultModelParams() ModelParams {
	var p C.qwen_model_params
	C.qwen_model_params_init(&p, C.size_t(unsafe.Sizeof(p)))
	return ModelParams{UseMmap: p.use_mmap != 0}
}

// SpecialToken names a token the model files declare.
type SpecialToken int

const (
	TokenBOS SpecialToken = C.QWEN_TOKEN_BOS
	TokenEOS SpecialToken = C.QWEN_TOKEN_EOS // <|im_end|> for Qwen2.5-Instruct
	TokenPAD SpecialToken = C.QWEN_TOKEN_PAD
)

// Model holds weights, hyper-parameters and the tokenizer. Safe for concurrent use.
type Model struct {
	ptr *C.qwen_model
}

// Load loads a GGUF file or a Hugging Face model folder with default parameters.
func Load(path string) (*Model, error) { return LoadWithParams(path, DefaultModelParams()) }

// LoadWithParams loads a model with the given parameters.
func LoadWithParams(path string, params ModelParams) (*Model, error) {
	cpath, err := cStringField("path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	var p C.qwen_model_params
	C.qwen_model_params_init(&p, C.size_t(unsafe.Sizeof(p)))
	if !params.UseMmap {
		p.use_mmap = 0
	}
	m := &Model{}
	if err := call(func() C.qwen_status { return C.qwen_model_load(cpath, &p, &m.ptr) }); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(m, (*Model).Close)
	return m, nil
}

// Close frees the model. Close its contexts and samplers first. Calling it again is a no-op.
func (m *Model) Close() error {
	runtime.SetFinalizer(m, nil)
	C.qwen_model_free(m.ptr)
	m.ptr = nil
	return nil
}

// NVocab is the number of rows of the LM head: the length of a row of logits.
func (m *Model) NVocab() int {
	defer runtime.KeepAlive(m)
	return int(C.qwen_model_n_vocab(m.ptr))
}

// NCtxTrain is the context length the model was trained for.
func (m *Model) NCtxTrain() int {
	defer runtime.KeepAlive(m)
	return int(C.qwen_model_n_ctx_train(m.ptr))
}

// Special returns the id of a special token, or false if the model declares none.
func (m *Model) Special(which SpecialToken) (int32, bool) {
	defer runtime.KeepAlive(m)
	id := int32(C.qwen_token_special(m.ptr, C.qwen_special_token(which)))
	return id, id >= 0
}

// Tokenize returns the token ids of text. With parseSpecial, control-token text such as
// "<|im_start|>" becomes its id; without it, user text cannot inject control tokens.
func (m *Model) Tokenize(text string, parseSpecial bool) ([]int32, error) {
	defer runtime.KeepAlive(m)
	var flags C.uint32_t
	if parseSpecial {
		flags = C.QWEN_TOKENIZE_PARSE_SPECIAL
	}
	ctext, free := cString(text)
	defer free()
	// About 4 bytes per token in English text: most calls need no second pass.
	return fill(len(text)/3+8, func(buf *int32, capacity C.size_t, n *C.size_t) C.qwen_status {
		return C.qwen_tokenize(m.ptr, ctext, C.size_t(len(text)), flags, (*C.int32_t)(buf), capacity, n)
	})
}

// Detokenize returns the text of tokens (control tokens left out with skipSpecial). Ill-formed
// UTF-8 across token boundaries becomes U+FFFD, as Hugging Face's decoder does.
func (m *Model) Detokenize(tokens []int32, skipSpecial bool) (string, error) {
	defer runtime.KeepAlive(m)
	var flags C.uint32_t
	if skipSpecial {
		flags = C.QWEN_DETOKENIZE_SKIP_SPECIAL
	}
	var ids *C.int32_t
	if len(tokens) > 0 {
		ids = (*C.int32_t)(unsafe.Pointer(&tokens[0]))
	}
	text, err := fill(len(tokens)*4+16, func(buf *byte, capacity C.size_t, n *C.size_t) C.qwen_status {
		return C.qwen_detokenize(m.ptr, ids, C.size_t(len(tokens)), flags, (*C.char)(unsafe.Pointer(buf)), capacity, n)
	})
	return string(text), err
}
