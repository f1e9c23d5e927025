// The sampler's saved state: what changes as it runs (random stream, penalty window and the
// grammar's progress), in a versioned little-endian layout. The config is not in it: a state
// is loaded into a sampler made with the same params, and the fields that decide whether the
// bytes fit it (vocabulary size, window length, grammar) are checked.
//
//   offset  size  field
//   0       4     magic "QSMP"
//   4       4     u32 version (2; version 1 ends after the tokens and has no grammar part)
//   8       4     u32 n_vocab
//   12      4     i32 penalty_last_n
//   16      32    u64 xoshiro256** state words s[0..3]
//   48      8     u64 n: tokens in the penalty window
//   56      4n    i32 tokens, oldest first
//   56+4n   8     u64 grammar fingerprint (grammar_fingerprint(); 0: no grammar)
//   64+4n   1     u8 1 if the grammar's text ended (an end-of-turn token was sampled)
//   65+4n   8     u64 m: bytes of the grammar's text so far
//   73+4n   m     those bytes (replayed through the grammar on load)
//   end-8   8     u64 FNV-1a 64 of every byte before it
//
// The grammar's progress is kept as its text rather than its parse stacks: the text is
// short, independent of how the matcher represents a parse, and replaying it proves that it
// belongs to this grammar.
#include "core/bytes.hpp"
#include "core/error.hpp"
#include "grammar/token_mask.hpp"
#include "sample/sampler.hpp"

#include <cstring>

namespace qwen {

namespace {
constexpr char kMagic[4] = {'Q', 'S', 'M', 'P'};
constexpr uint32_t kVersion = 2;
constexpr size_t kHeader = 56;
}  // namespace

void Sampler::save_state(std::string& out) const {
    out.clear();
    ByteWriter w(out);
    w.put_bytes(kMagic, 4);
    w.put(kVersion);
    w.put(n_vocab_);
    w.put(int32_t(window_.last_n()));
    for (int i = 0; i < 4; ++i) w.put(uint64_t(rng_.state()[i]));
    w.put(uint64_t(window_.size()));
    window_.for_each([&](int32_t t) { w.put(t); });
    w.put(grammar_ ? grammar_->fingerprint() : uint64_t{0});
    w.put(uint8_t(grammar_ && grammar_->ended()));
    const std::string empty;
    const std::string& text = grammar_ ? grammar_->text() : empty;
    w.put(uint64_t(text.size()));
    w.put_bytes(text.data(), text.size());
    w.put(fnv1a64(out.data(), out.size()));
}

void Sampler::load_state(const uint8_t* p, size_t n) {
    auto bad = [](auto&&... what) { fail(QWEN_ERR_FORMAT, "sampler state: ", what...); };
    if (!p && n) bad("the buffer is NULL");
    if (n < kHeader + 8) bad(n, " bytes is shorter than the smallest state (", kHeader + 8, ")");
    if (std::memcmp(p, kMagic, 4) != 0) bad("no 'QSMP' magic at offset 0: not a sampler state");
    ByteReader r(p, n - 8, "sampler state");
    r.bytes(4, "magic");
    const auto version = r.get<uint32_t>("version");
    if (version != 1 && version != kVersion) bad("version ", version, " at offset 4 is not 1 or ", kVersion);
    uint64_t sum;
    std::memcpy(&sum, p + n - 8, 8);
    if (sum != fnv1a64(p, n - 8)) bad("checksum mismatch at offset ", n - 8, ": the bytes are corrupted");
    if (const auto v = r.get<uint32_t>("n_vocab"); v != n_vocab_)
        bad("saved with a vocabulary of ", v, " tokens, this sampler has ", n_vocab_);
    if (const auto last_n = r.get<int32_t>("penalty_last_n"); last_n != window_.last_n())
        bad("saved with penalty_last_n = ", last_n, ", this sampler has ", window_.last_n());
    uint64_t s[4];
    for (auto& w : s) w = r.get<uint64_t>("random state");
    if ((s[0] | s[1] | s[2] | s[3]) == 0) bad("the random state at offset 16 is all zero");
    const auto count = r.get<uint64_t>("token count");
    if (count > r.remaining() / 4) bad(count, " tokens at offset 48 do not fit in the ", n, " bytes given");
    if (window_.last_n() >= 0 && count > uint64_t(window_.last_n()))
        bad(count, " tokens in the window, more than penalty_last_n = ", window_.last_n());
    TokenWindow window(n_vocab_, window_.last_n());
    for (uint64_t i = 0; i < count; ++i) {
        const size_t at = r.offset();
        const auto t = r.get<int32_t>("token");
        if (t < 0 || uint32_t(t) >= n_vocab_) bad("token ", t, " at offset ", at, " is outside the vocabulary");
        window.push(t);
    }

    // The grammar: checked and replayed into a copy, so that a bad state changes nothing.
    std::unique_ptr<GrammarConstraint> grammar = grammar_ ? std::make_unique<GrammarConstraint>(*grammar_) : nullptr;
    if (version == 1) {
        if (grammar) grammar->reset();  // version 1 states predate grammar progress
    } else {
        const size_t at = r.offset();
        const auto fingerprint = r.get<uint64_t>("grammar fingerprint");
        const auto ended = r.get<uint8_t>("grammar end flag");
        const auto m = r.get<uint64_t>("grammar text size");
        if (m > r.remaining()) bad(m, " bytes of grammar text at offset ", at + 9, " do not fit in the ", n, " bytes given");
        const auto* text = reinterpret_cast<const char*>(r.bytes(size_t(m), "grammar text"));
        if (ended > 1) bad("the grammar end flag at offset ", at + 8, " is ", int(ended), ", not 0 or 1");
        if (fingerprint == 0 && grammar) bad("saved by a sampler without a grammar, this one has a grammar");
        if (fingerprint != 0 && !grammar) bad("saved by a sampler with a grammar, this one has none");
        if (grammar) {
            if (fingerprint != grammar->fingerprint())
                bad("saved under another grammar (fingerprint ", fingerprint, " at offset ", at, ", this sampler's is ",
                    grammar->fingerprint(), ")");
            if (!grammar->restore(std::string_view(text, size_t(m)), ended != 0))
                bad("the grammar text at offset ", at + 17, " is not a prefix of this sampler's grammar");
        } else if (m != 0 || ended) {
            bad("grammar progress at offset ", at + 8, " without a grammar");
        }
    }
    if (r.remaining() != 0) bad(r.remaining(), " unexpected bytes at offset ", r.offset());
    window_ = std::move(window);
    rng_.set_state(s);
    grammar_ = std::move(grammar);
}

}  // namespace qwen
