// The sampler's saved state: what changes as it runs (random stream and penalty window), in
// a versioned little-endian layout. The config is not in it: a state is loaded into a sampler
// made with the same params, and the fields that decide whether the bytes fit it (vocabulary
// size, window length) are checked.
//
//   offset  size  field
//   0       4     magic "QSMP"
//   4       4     u32 version (1)
//   8       4     u32 n_vocab
//   12      4     i32 penalty_last_n
//   16      32    u64 xoshiro256** state words s[0..3]
//   48      8     u64 n: tokens in the penalty window
//   56      4n    i32 tokens, oldest first
//   56+4n   8     u64 FNV-1a 64 of every byte before it
#include "core/error.hpp"
#include "sample/sampler.hpp"

#include <cstring>

namespace qwen {

namespace {

constexpr char kMagic[4] = {'Q', 'S', 'M', 'P'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeader = 56;

void put(std::string& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(char(uint8_t(v >> (8 * i))));
}

uint64_t get(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(p[i]) << (8 * i);
    return v;
}

uint64_t fnv1a(const uint8_t* p, size_t n) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

}  // namespace

void Sampler::save_state(std::string& out) const {
    out.clear();
    out.reserve(kHeader + 4 * window_.size() + 8);
    out.append(kMagic, 4);
    put(out, kVersion, 4);
    put(out, n_vocab_, 4);
    put(out, uint32_t(window_.last_n()), 4);
    for (int i = 0; i < 4; ++i) put(out, rng_.state()[i], 8);
    put(out, window_.size(), 8);
    window_.for_each([&](int32_t t) { put(out, uint32_t(t), 4); });
    put(out, fnv1a(reinterpret_cast<const uint8_t*>(out.data()), out.size()), 8);
}

void Sampler::load_state(const uint8_t* p, size_t n) {
    auto bad = [](auto&&... what) { fail(QWEN_ERR_FORMAT, "sampler state: ", what...); };
    if (!p && n) bad("the buffer is NULL");
    if (n < kHeader + 8) bad(n, " bytes is shorter than the smallest state (", kHeader + 8, ")");
    if (std::memcmp(p, kMagic, 4) != 0) bad("no 'QSMP' magic at offset 0: not a sampler state");
    if (const uint64_t v = get(p + 4, 4); v != kVersion) bad("version ", v, " at offset 4 is not ", kVersion);
    const uint64_t count = get(p + 48, 8);
    if (count > (n - kHeader - 8) / 4 || kHeader + 4 * count + 8 != n)
        bad(count, " tokens at offset 48 do not match the ", n, " bytes given");
    if (get(p + n - 8, 8) != fnv1a(p, n - 8)) bad("checksum mismatch at offset ", n - 8, ": the bytes are corrupted");
    if (const uint64_t v = get(p + 8, 4); v != n_vocab_)
        bad("saved with a vocabulary of ", v, " tokens, this sampler has ", n_vocab_);
    if (const auto last_n = int32_t(uint32_t(get(p + 12, 4))); last_n != window_.last_n())
        bad("saved with penalty_last_n = ", last_n, ", this sampler has ", window_.last_n());
    uint64_t s[4];
    for (int i = 0; i < 4; ++i) s[i] = get(p + 16 + 8 * i, 8);
    if ((s[0] | s[1] | s[2] | s[3]) == 0) bad("the random state at offset 16 is all zero");
    if (window_.last_n() >= 0 && count > uint64_t(window_.last_n()))
        bad(count, " tokens in the window, more than penalty_last_n = ", window_.last_n());

    TokenWindow window(n_vocab_, window_.last_n());
    for (uint64_t i = 0; i < count; ++i) {
        const auto t = int32_t(uint32_t(get(p + kHeader + 4 * i, 4)));
        if (t < 0 || uint32_t(t) >= n_vocab_)
            bad("token ", t, " at offset ", kHeader + 4 * i, " is outside the vocabulary");
        window.push(t);
    }
    window_ = std::move(window);
    rng_.set_state(s);
}

}  // namespace qwen
