#include "quantizer/tensor_types.hpp"

#include "core/error.hpp"
#include "quantizer/ftype.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

namespace qwen::quantizer {

namespace {

enum class Role { TokenEmbd, Output, AttnV, FfnDown, Other };

Role role_of(std::string_view name) {
    if (name == "output.weight") return Role::Output;
    if (name == "token_embd.weight") return Role::TokenEmbd;
    if (name.find("attn_v.weight") != name.npos) return Role::AttnV;
    if (name.find("ffn_down") != name.npos) return Role::FfnDown;
    return Role::Other;
}

// The block index of "blk.N.*", -1 for other names (llama.cpp's sscanf("blk.%d.")).
int layer_of(std::string_view name) {
    if (!name.starts_with("blk.")) return -1;
    int i = -1;
    auto [end, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), i);
    return ec == std::errc() && end < name.data() + name.size() && *end == '.' ? i : -1;
}

bool is_matrix_weight(const TensorView& t) {
    size_t n_dims = t.dims.size();
    while (n_dims > 1 && t.dims[n_dims - 1] == 1) --n_dims;  // ggml_n_dims ignores trailing 1s
    const std::string_view name = t.name;
    return n_dims >= 2 && name.ends_with("weight") && name.find("_norm.weight") == name.npos;
}

uint64_t block_of(TensorType t) { return tensor_type_info(t).block_elems; }

// Layers that get more bits: the first and last eighth, and every third one between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

TensorType fallback(TensorType t, uint64_t ncols) {
    if (ncols % block_of(t) == 0) return t;
    TensorType r = t;
    switch (t) {
    case TensorType::IQ4_XS: r = TensorType::IQ4_NL; break;
    case TensorType::Q4_K: r = TensorType::Q5_0; break;
    case TensorType::Q5_K: r = TensorType::Q5_1; break;
    case TensorType::Q6_K: r = TensorType::Q8_0; break;
    default: break;  // a 32-element type already: only F16 is left
    }
    return ncols % block_of(r) == 0 ? r : TensorType::F16;
}

class Mixer {
public:
    Mixer(const std::vector<const TensorView*>& ordered, const Qwen2Hparams& h, qwen_ftype ftype)
        : ftype_(ftype), n_layer_(int(h.n_layer)), n_gqa_(h.n_head / h.n_head_kv), is_70b_(h.n_layer == 80) {
        for (const TensorView* t : ordered) {
            n_attn_v_ += role_of(t->name) == Role::AttnV;
            tied_ &= role_of(t->name) != Role::Output;
        }
    }

    TensorType choose(const TensorView& t, TensorType base) {
        const Role role = role_of(t.name);
        if (role == Role::Output || (tied_ && role == Role::TokenEmbd)) {
            if (t.dims[0] % block_of(base) != 0) return TensorType::Q8_0;
            return base == TensorType::Q8_0 ? base : TensorType::Q6_K;
        }
        if (role == Role::AttnV) return attn_v(base, i_attn_v_++);
        if (role == Role::FfnDown) return ffn_down(base, i_ffn_down_++);
        return base;
    }

private:
    bool is(qwen_ftype f) const { return ftype_ == f; }

    TensorType attn_v(TensorType t, int i) const {
        if ((is(QWEN_FTYPE_IQ4_NL) || is(QWEN_FTYPE_IQ4_XS)) && n_gqa_ >= 4) t = TensorType::Q5_K;
        else if ((is(QWEN_FTYPE_Q4_K_M) || is(QWEN_FTYPE_Q5_K_M)) && use_more_bits(i, n_attn_v_)) t = TensorType::Q6_K;
        else if (is(QWEN_FTYPE_Q4_K_S) && i < 4) t = TensorType::Q5_K;
        // 70B-class models share one attn_v among 8 query heads: more bits cost little there.
        if (is_70b_ && (t == TensorType::Q3_K || t == TensorType::Q4_K)) t = TensorType::Q5_K;
        return t;
    }

    // llama.cpp counts ffn_down tensors against the model's layer count.
    TensorType ffn_down(TensorType t, int i) const {
        const int n = n_layer_;
        if (is(QWEN_FTYPE_Q4_K_M)) return use_more_bits(i, n) ? TensorType::Q6_K : t;
        if (i < n / 8 && (is(QWEN_FTYPE_IQ4_NL) || is(QWEN_FTYPE_IQ4_XS))) return TensorType::Q5_K;
        if (is(QWEN_FTYPE_Q5_K_M) && use_more_bits(i, n)) return TensorType::Q6_K;
        if (is(QWEN_FTYPE_Q4_K_S) && i < n / 8) return TensorType::Q5_K;
        return t;
    }

    qwen_ftype ftype_;
    int n_layer_, n_gqa_;
    bool is_70b_;
    bool tied_ = true;
    int n_attn_v_ = 0, i_attn_v_ = 0, i_ffn_down_ = 0;
};

}  // namespace

std::vector<const TensorView*> file_order(const ModelSource& source) {
    std::vector<const TensorView*> out;
    for (const auto& t : source.tensors()) out.push_back(&t);
    std::ranges::sort(out, [](const TensorView* a, const TensorView* b) {
        const int la = layer_of(a->name), lb = layer_of(b->name);
        return la != lb ? la < lb : a->name < b->name;
    });
    return out;
}

std::vector<TensorType> choose_types(const std::vector<const TensorView*>& ordered, const Qwen2Hparams& hparams,
                                     qwen_ftype ftype, bool pure, bool vectors_to_f32) {
    const auto info = ftype_info(ftype);
    if (!info) fail(QWEN_ERR_INVALID_ARGUMENT, "ftype ", int(ftype), " is not one of: ", ftype_names());
    Mixer mixer(ordered, hparams, ftype);
    std::vector<TensorType> types;
    for (const TensorView* t : ordered) {
        TensorType type = info->base;
        if (!is_matrix_weight(*t)) {
            const bool half = t->type == TensorType::F16 || t->type == TensorType::BF16;
            type = vectors_to_f32 && half ? TensorType::F32 : t->type;
        } else if (is_quantized(type)) type = fallback(pure ? type : mixer.choose(*t, type), t->dims[0]);
        types.push_back(type);
    }
    return types;
}

}  // namespace qwen::quantizer
