#include "model/model.hpp"

#include "core/error.hpp"

#include <cmath>

namespace qwen {

Model::Model(std::unique_ptr<ModelSource> source) : source_(std::move(source)) {
    const Qwen2Hparams& h = source_->hparams();
    if (h.head_dim > 256)
        fail(QWEN_ERR_UNSUPPORTED, source_->path(), ": head dimension ", h.head_dim, " is above 256");
    const uint64_t E = h.n_embd, Q = uint64_t(h.n_head) * h.head_dim, KV = uint64_t(h.n_head_kv) * h.head_dim;
    token_embd_ = matrix("token_embd.weight", E, h.n_vocab);
    tied_ = source_->find("output.weight") == nullptr;
    output_ = tied_ ? token_embd_ : matrix("output.weight", E, h.n_vocab);
    output_norm_ = vector("output_norm.weight", E);
    // No reserve(n_layer): the block count is the file's word until each layer's tensors are
    // found, and a hostile count would be a large allocation before the first missing one.
    for (uint32_t i = 0; i < h.n_layer; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        LayerWeights l;
        l.attn_norm = vector(p + "attn_norm.weight", E);
        l.wq = matrix(p + "attn_q.weight", E, Q);
        l.wk = matrix(p + "attn_k.weight", E, KV);
        l.wv = matrix(p + "attn_v.weight", E, KV);
        l.bq = vector(p + "attn_q.bias", Q);
        l.bk = vector(p + "attn_k.bias", KV);
        l.bv = vector(p + "attn_v.bias", KV);
        l.wo = matrix(p + "attn_output.weight", Q, E);
        l.ffn_norm = vector(p + "ffn_norm.weight", E);
        l.gate = matrix(p + "ffn_gate.weight", E, h.n_ff);
        l.up = matrix(p + "ffn_up.weight", E, h.n_ff);
        l.down = matrix(p + "ffn_down.weight", h.n_ff, E);
        layers_.push_back(l);
    }
    // The token embedding stays as stored (its rows are looked up one by one); the LM head,
    // the same tensor when tied, is packed like every other matrix. From a mapped file, the
    // matrices with no packed layout (F16, BF16, the grid formats) are copied as they are:
    // the copy is in 2 MiB pages where the kernel has transparent huge pages, the mapping in
    // 4 KiB ones, and decode streams every weight once a token, so a TLB miss every 4 KiB
    // showed. Alternating `qwen bench -p 0 -n 64 -r 2 -t 2` runs of the builds without and
    // with the copy: F16 35.0-36.1 -> 39.2-40.6 tok/s, BF16 36.9-39.2 -> 45.1-51.4.
    const bool copy_stored = source_->mapped();
    std::vector<Matrix*> all{&output_};
    for (LayerWeights& l : layers_)
        for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) all.push_back(m);
    size_t total = 0;
    for (Matrix* m : all) total += (resident_bytes(*m, copy_stored) + 63) / 64 * 64;
    if (total == 0) return;
    packed_ = PageBuffer(total);
    std::vector<Matrix*> ws;
    std::vector<uint8_t*> dsts;
    size_t at = 0;
    for (Matrix* m : all)
        if (const size_t n = resident_bytes(*m, copy_stored)) {
            ws.push_back(m);
            dsts.push_back(packed_.data() + at);
            at += (n + 63) / 64 * 64;
        }
    // The stored rows are read no more once packed or copied (the tied embedding's only a row
    // at a time, which the mapping reads back from the file as needed): releasing them piece
    // by piece keeps the resident size near the file's size during the load, not twice it.
    pack_matrices(ws.data(), dsts.data(), ws.size(),
                  [this](const uint8_t* data, size_t bytes) { source_->release(data, bytes); });
}

static std::string dims_str(const std::vector<uint64_t>& d) {
    std::string s = "{";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "}";
}

Matrix Model::matrix(const std::string& name, uint64_t cols, uint64_t rows) {
    const TensorView* t = source_->find(name);
    if (!t) fail(QWEN_ERR_FORMAT, source_->path(), ": missing tensor '", name, "'");
    if (t->dims.size() != 2 || t->dims[0] != cols || t->dims[1] != rows)
        fail(QWEN_ERR_FORMAT, t->where, ": dimensions ", dims_str(t->dims), ", expected {", cols, ", ", rows,
             "} from the hyper-parameters");
    if (!matmul_supports(t->type))
        fail(QWEN_ERR_UNSUPPORTED, t->where, ": tensor type ", tensor_type_name(t->type),
             " is not supported for matrices yet");
    return Matrix{t->type, t->data, size_t(rows), size_t(cols), *tensor_row_bytes(t->type, cols)};
}

const float* Model::vector(const std::string& name, uint64_t n) {
    const TensorView* t = source_->find(name);
    if (!t) fail(QWEN_ERR_FORMAT, source_->path(), ": missing tensor '", name, "'");
    if (t->dims.size() != 1 || t->dims[0] != n)
        fail(QWEN_ERR_FORMAT, t->where, ": dimensions ", dims_str(t->dims), ", expected {", n, "}");
    if (!matmul_supports(t->type))
        fail(QWEN_ERR_UNSUPPORTED, t->where, ": tensor type ", tensor_type_name(t->type),
             " has no dequantizer, so it cannot hold a vector");
    AlignedBuffer<float> buf{size_t(n)};
    dequantize_row(Matrix{t->type, t->data, 1, size_t(n), t->bytes}, 0, buf.data());
    for (size_t i = 0; i < n; ++i)
        if (!std::isfinite(buf[i]))
            fail(QWEN_ERR_FORMAT, t->where, ": element ", i, " is not finite (", buf[i], ")");
    vectors_.push_back(std::move(buf));
    return vectors_.back().data();
}

}  // namespace qwen
