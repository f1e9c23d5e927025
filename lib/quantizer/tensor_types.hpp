// Which type each tensor of a Qwen2 model gets in a file of a given ftype: llama.cpp's rules
// (llama_tensor_get_type in src/llama-quant.cpp) for the qwen2 architecture without an
// importance matrix, re-derived here so our files match `llama-quantize` tensor for tensor.
//
//  - Only matrices are quantized: 1-D tensors (biases), norms and anything not named
//    "*weight" keep their type.
//  - The LM head (output.weight, or token_embd.weight when the embeddings are tied) gets Q6_K,
//    or Q8_0 when its rows are not a whole number of the base type's blocks or the base type
//    is Q8_0 already.
//  - attn_v and ffn_down get more bits in some layers for the K mixes (Q4_K_M/Q5_K_M:
//    Q6_K in the first and last eighth and every third layer between; Q4_K_S: Q5_K for
//    the first four attn_v and the first eighth of ffn_down) and for IQ4_NL/IQ4_XS (Q5_K
//    attn_v with grouped-query attention of 4+ heads per KV head, Q5_K ffn_down in the first
//    eighth).
//  - A row length that is not a whole number of 256-element blocks demotes a K/IQ type to a
//    32-element one (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL), and to F16
//    when not even that fits. For Qwen2.5-0.5B (rows of 896) this makes every K mix mostly
//    Q5_0/Q5_1/Q8_0, with K types only in ffn_down (rows of 4864).
//  - `pure` skips the mix: every matrix is the base type (after the row-length fallback).
#pragma once

#include "format/model_source.hpp"

#include <qwen/qwen.h>

#include <vector>

namespace qwen::quantizer {

// A block format (Q8_0, Q4_K, ...), as opposed to F32/F16/BF16 and the integer types.
inline bool is_quantized(TensorType t) { return tensor_type_info(t).block_elems > 1; }

// The tensors in the order llama.cpp writes them: those outside the blocks first, then block
// by block, by name within each (the counters of the per-layer rules follow this order).
std::vector<const TensorView*> file_order(const ModelSource& source);

// The output type of each tensor of `ordered` (file_order). `vectors_to_f32`: the tensors that
// are not quantized become F32 (what llama.cpp's converter does with the BF16 biases and norms
// of a Hugging Face folder, so a folder quantizes to the file its converted GGUF would).
// Throws Error(QWEN_ERR_INVALID_ARGUMENT) for an ftype not in qwen_ftype.
std::vector<TensorType> choose_types(const std::vector<const TensorView*>& ordered, const Qwen2Hparams& hparams,
                                     qwen_ftype ftype, bool pure, bool vectors_to_f32);

}  // namespace qwen::quantizer
