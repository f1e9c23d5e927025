#include "format/hf_names.hpp"

#include <charconv>

namespace qwen {

namespace {

struct Pair {
    std::string_view hf, gguf;
};

constexpr Pair kGlobal[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

// Suffixes after "model.layers.{i}." / "blk.{i}.".
constexpr Pair kLayer[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

// Parses "{i}.rest" at the start of `s`; returns the index and leaves `s` at "rest".
std::optional<uint32_t> take_layer(std::string_view& s) {
    size_t dot = s.find('.');
    if (dot == std::string_view::npos || dot == 0) return std::nullopt;
    if (dot > 1 && s[0] == '0') return std::nullopt;  // no leading zeros
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + dot, v);
    if (ec != std::errc() || p != s.data() + dot) return std::nullopt;
    s.remove_prefix(dot + 1);
    return v;
}

std::optional<HfNameMatch> translate(std::string_view name, std::string_view from_prefix,
                                     std::string_view to_prefix, bool hf_to_gguf) {
    for (const Pair& p : kGlobal)
        if (name == (hf_to_gguf ? p.hf : p.gguf))
            return HfNameMatch{std::string(hf_to_gguf ? p.gguf : p.hf), std::nullopt};
    if (!name.starts_with(from_prefix)) return std::nullopt;
    name.remove_prefix(from_prefix.size());
    auto layer = take_layer(name);
    if (!layer) return std::nullopt;
    for (const Pair& p : kLayer)
        if (name == (hf_to_gguf ? p.hf : p.gguf))
            return HfNameMatch{std::string(to_prefix) + std::to_string(*layer) + "." +
                                   std::string(hf_to_gguf ? p.gguf : p.hf),
                               layer};
    return std::nullopt;
}

}  // namespace

std::optional<HfNameMatch> hf_to_gguf_name(std::string_view hf) {
    return translate(hf, "model.layers.", "blk.", true);
}

std::optional<std::string> gguf_to_hf_name(std::string_view gguf) {
    auto m = translate(gguf, "blk.", "model.layers.", false);
    if (!m) return std::nullopt;
    return std::move(m->gguf_name);
}

}  // namespace qwen
