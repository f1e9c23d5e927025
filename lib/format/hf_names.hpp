// The one table that translates tensor names between the Hugging Face (transformers) layout
// and GGUF's, shared by the folder reader and the folder writer so the two cannot drift.
//
//   model.embed_tokens.weight                        <-> token_embd.weight
//   model.layers.{i}.input_layernorm.weight          <-> blk.{i}.attn_norm.weight
//   model.layers.{i}.self_attn.{q,k,v}_proj.{w,b}    <-> blk.{i}.attn_{q,k,v}.{weight,bias}
//   model.layers.{i}.self_attn.o_proj.weight         <-> blk.{i}.attn_output.weight
//   model.layers.{i}.post_attention_layernorm.weight <-> blk.{i}.ffn_norm.weight
//   model.layers.{i}.mlp.{gate,up,down}_proj.weight  <-> blk.{i}.ffn_{gate,up,down}.weight
//   model.norm.weight                                <-> output_norm.weight
//   lm_head.weight                                   <-> output.weight
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qwen {

struct HfNameMatch {
    std::string gguf_name;
    std::optional<uint32_t> layer;  // the block index for per-layer tensors
};

// nullopt when `hf` is not one of the names above (the caller decides whether that is an
// error). A layer index must be plain decimal without leading zeros ("03" is not layer 3),
// so that two spellings can never name the same tensor.
std::optional<HfNameMatch> hf_to_gguf_name(std::string_view hf);

// The inverse; nullopt for names outside the table.
std::optional<std::string> gguf_to_hf_name(std::string_view gguf);

}  // namespace qwen
