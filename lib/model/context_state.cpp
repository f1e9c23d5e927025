// Saved state of a Context: what a fresh context of the same model needs to continue exactly
// where this one stopped. Layout (little-endian, core/bytes.hpp):
//   "QCTX" u32 version=1
//   u32 n_layer, u32 kv_row_elems, u32 n_vocab, u32 n_embd, u64 model fingerprint
//   u32 kv_is_f16, u32 n_past, i32 tokens[n_past]
//   per layer: K rows [n_past][kv_row_elems], then V rows, in the saved KV type
//   u32 has_logits, f32 logits[n_vocab] if has_logits (the last evaluated row)
// The fingerprint hashes the hyper-parameters and the output norm, so a state from another
// model of the same shape is refused; the KV type may differ between save and load (rows are
// converted), so may n_ctx as long as the tokens fit.
#include "core/bytes.hpp"
#include "core/half.hpp"
#include "model/context.hpp"

#include <cstring>
#include <vector>

namespace qwen {

namespace {

constexpr char kMagic[4] = {'Q', 'C', 'T', 'X'};
constexpr uint32_t kVersion = 1;

uint64_t model_fingerprint(const Model& m) {
    const Qwen2Hparams& h = m.hparams();
    const uint32_t dims[] = {h.n_vocab, h.n_embd, h.n_layer, h.n_head, h.n_head_kv, h.head_dim, h.n_ff};
    uint64_t fp = fnv1a64(dims, sizeof dims);
    return fnv1a64(m.output_norm(), h.n_embd * sizeof(float), fp);
}

// One stored KV row of `elems` values from `src` (F16 or F32) into `dst` of the other type.
void convert_row(const uint8_t* src, bool src_f16, uint8_t* dst, bool dst_f16, size_t elems) {
    for (size_t i = 0; i < elems; ++i) {
        float f;
        if (src_f16) {
            uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            f = f16_to_f32(h);
        } else {
            std::memcpy(&f, src + 4 * i, 4);
        }
        if (dst_f16) {
            uint16_t h = f32_to_f16(f);
            std::memcpy(dst + 2 * i, &h, 2);
        } else {
            std::memcpy(dst + 4 * i, &f, 4);
        }
    }
}

// The parsed header and the places of the bulk data inside the checked bytes.
struct StateView {
    bool kv_f16;
    uint32_t n_past;
    const uint8_t* tokens;
    const uint8_t* kv;  // layer-major: K rows then V rows per layer
    const uint8_t* logits = nullptr;
};

StateView parse(const Context& ctx, const uint8_t* data, size_t n) {
    const Model& m = ctx.model();
    const Qwen2Hparams& h = m.hparams();
    ByteReader r(data, n, "context state");
    if (std::memcmp(r.bytes(4, "magic"), kMagic, 4) != 0) r.bad("magic", "not a libqwen context state");
    if (uint32_t v = r.get<uint32_t>("version"); v != kVersion)
        r.bad("version", cat("version ", v, " is not supported (this library writes ", kVersion, ")"));
    const uint32_t row = uint32_t(h.n_head_kv) * h.head_dim;
    const uint32_t want[] = {h.n_layer, row, h.n_vocab, h.n_embd};
    const char* names[] = {"n_layer", "kv_row_elems", "n_vocab", "n_embd"};
    for (int i = 0; i < 4; ++i)
        if (uint32_t got = r.get<uint32_t>(names[i]); got != want[i])
            r.bad(names[i], cat("the state has ", got, ", this model ", want[i]));
    if (r.get<uint64_t>("fingerprint") != model_fingerprint(m))
        r.bad("fingerprint", "the state was saved with a different model");
    StateView s{};
    const uint32_t f16 = r.get<uint32_t>("kv_is_f16");
    if (f16 > 1) r.bad("kv_is_f16", cat("value ", f16, " is not 0 or 1"));
    s.kv_f16 = f16 == 1;
    s.n_past = r.get<uint32_t>("n_past");
    if (s.n_past > ctx.n_ctx())
        fail(QWEN_ERR_CONTEXT_FULL, "context state: ", s.n_past, " tokens do not fit in a context of n_ctx ",
             ctx.n_ctx());
    s.tokens = r.bytes(size_t(s.n_past) * 4, "tokens");
    for (uint32_t i = 0; i < s.n_past; ++i) {
        int32_t t;
        std::memcpy(&t, s.tokens + 4 * size_t(i), 4);
        if (t < 0 || uint32_t(t) >= h.n_vocab) r.bad("tokens", cat("token ", i, " has id ", t, ", outside the vocabulary"));
    }
    const size_t kv_bytes = size_t(2) * h.n_layer * s.n_past * row * (s.kv_f16 ? 2 : 4);
    s.kv = r.bytes(kv_bytes, "kv cache");
    const uint32_t has_logits = r.get<uint32_t>("has_logits");
    if (has_logits > 1) r.bad("has_logits", cat("value ", has_logits, " is not 0 or 1"));
    if (has_logits) s.logits = r.bytes(size_t(h.n_vocab) * 4, "logits");
    if (r.remaining() != 0) r.bad("end", cat(r.remaining(), " unexpected bytes after the state"));
    return s;
}

}  // namespace

size_t Context::state_size() const {
    const Qwen2Hparams& h = model_.hparams();
    return 4 + 4 * 5 + 8 + 4 * 2 + size_t(kv_.n_past()) * 4 + size_t(2) * h.n_layer * kv_.n_past() * kv_.row_bytes() +
           4 + (n_rows_ ? size_t(h.n_vocab) * 4 : 0);
}

void Context::save_state(std::string& out) const {
    const Qwen2Hparams& h = model_.hparams();
    out.reserve(out.size() + state_size());
    ByteWriter w(out);
    w.put_bytes(kMagic, 4);
    w.put(kVersion);
    w.put(h.n_layer);
    w.put(uint32_t(kv_.row_elems()));
    w.put(h.n_vocab);
    w.put(h.n_embd);
    w.put(model_fingerprint(model_));
    w.put(uint32_t(kv_.is_f16()));
    const uint32_t n = kv_.n_past();
    w.put(n);
    w.put_bytes(tokens_.data(), size_t(n) * 4);
    // Row by row: the cache keeps its keys in tiles (kv/kv_cache.hpp), the format in rows.
    std::vector<uint8_t> row(kv_.row_bytes());
    for (uint32_t l = 0; l < h.n_layer; ++l)
        for (bool key : {true, false})
            for (uint32_t pos = 0; pos < n; ++pos) {
                kv_.read_row(key, l, pos, row.data());
                w.put_bytes(row.data(), row.size());
            }
    w.put(uint32_t(n_rows_ ? 1 : 0));
    if (n_rows_) w.put_bytes(logits_.data() + (n_rows_ - 1) * h.n_vocab, size_t(h.n_vocab) * 4);
}

void Context::check_state(const uint8_t* data, size_t n) const { parse(*this, data, n); }

void Context::load_state(const uint8_t* data, size_t n) {
    const StateView s = parse(*this, data, n);
    const Qwen2Hparams& h = model_.hparams();
    // The only allocations, before anything changes: a row for converting between KV types.
    std::vector<uint8_t> converted(kv_.row_bytes());
    if (s.logits && logits_.size() < h.n_vocab) logits_.resize(h.n_vocab);
    const size_t elems = kv_.row_elems(), src_row = elems * (s.kv_f16 ? 2 : 4);
    const uint8_t* p = s.kv;
    uint8_t* row = converted.data();
    for (uint32_t l = 0; l < h.n_layer; ++l)
        for (bool key : {true, false})
            for (uint32_t pos = 0; pos < s.n_past; ++pos, p += src_row) {
                if (s.kv_f16 == kv_.is_f16()) {
                    kv_.write_row(key, l, pos, p);
                } else {
                    convert_row(p, s.kv_f16, row, kv_.is_f16(), elems);
                    kv_.write_row(key, l, pos, row);
                }
            }
    tokens_.resize(s.n_past);
    if (s.n_past) std::memcpy(tokens_.data(), s.tokens, size_t(s.n_past) * 4);
    kv_.set_n_past(s.n_past);
    n_rows_ = s.logits ? 1 : 0;
    if (s.logits) std::memcpy(logits_.data(), s.logits, size_t(h.n_vocab) * 4);
}

}  // namespace qwen
