// The random stream: draws follow the distribution (chi-square), the same seed gives the same
// tokens, reset() restarts, a saved state continues exactly, corrupted states are refused.
#include "sample_test_util.hpp"
#include "core/bytes.hpp"

using namespace sampletest;
using qwen::Sampler;
using qwen::SamplerConfig;

namespace {

// Pearson's chi-square of `draws` samples against probabilities `p` over bins.
double chi_square(const std::vector<uint64_t>& observed, const std::vector<double>& p, uint64_t draws) {
    double x2 = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        const double e = p[i] * double(draws);
        x2 += (double(observed[i]) - e) * (double(observed[i]) - e) / e;
    }
    return x2;
}

std::vector<int32_t> run(Sampler& s, const std::vector<float>& logits, int n) {
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) out.push_back(s.sample(logits.data(), logits.size()));
    return out;
}

}  // namespace

TEST_CASE("the random stream: xoshiro256** seeded by splitmix64, pinned") {
    // The published reference values (splitmix64(0) gives the state, then two outputs), and
    // the stream every user's samples come from: a change here changes every seeded
    // generation, on every machine.
    qwen::Rng r(0);
    CHECK(r.next() == 0x99EC5F36CB75F2B4ull);
    CHECK(r.next() == 0xBF6E1F784956452Aull);
    qwen::Rng r2(0xC0FFEE);
    CHECK(r2.uniform() == 0.07053528140922305);  // the top 53 bits of the first number
}

TEST_CASE("sampling frequencies follow the distribution (chi-square, 200,000 draws)") {
    // Critical values for a false failure probability of about 1e-6: chi2(7) 40.5, chi2(9) 44.6.
    const std::vector<double> p = {0.05, 0.30, 0.10, 0.40, 0.02, 0.08, 0.03, 0.02};
    const uint64_t draws = 200000;
    SamplerConfig c = neutral();
    c.penalty_last_n = 0;
    c.seed = 12345;
    SUBCASE("the whole vocabulary (dense draw)") {
        Sampler s(c, 8);
        const auto l = logits_of(p);
        std::vector<uint64_t> seen(8);
        for (uint64_t i = 0; i < draws; ++i) ++seen[size_t(s.sample(l.data(), 8))];
        CHECK(chi_square(seen, p, draws) < 40.5);
        // A sampler that drew from p^2 instead (temperature 0.5 by mistake) fails by far.
        std::vector<double> q(8);
        for (size_t i = 0; i < 8; ++i) q[i] = p[i] * p[i] / 0.2706;
        CHECK(chi_square(seen, q, draws) > 1000);
    }
    SUBCASE("after top-k (candidate draw)") {
        c.top_k = 6;  // drops 4 and 7: the rest renormalised by .96
        Sampler s(c, 8);
        const auto l = logits_of(p);
        std::vector<uint64_t> seen(8);
        for (uint64_t i = 0; i < draws; ++i) ++seen[size_t(s.sample(l.data(), 8))];
        CHECK(seen[4] == 0);
        CHECK(seen[7] == 0);
        std::vector<double> q = {.05 / .96, .30 / .96, .10 / .96, .40 / .96, .08 / .96, .03 / .96};
        std::vector<uint64_t> kept = {seen[0], seen[1], seen[2], seen[3], seen[5], seen[6]};
        CHECK(chi_square(kept, q, draws) < 40.5);  // 5 degrees of freedom: stricter still
    }
    SUBCASE("3,000 tokens over several partial-sum blocks, in 10 bins") {
        const size_t n = 3000;
        std::vector<double> w(n);
        double z = 0;
        for (size_t i = 0; i < n; ++i) z += w[i] = 1.0 + double(i % 7) + double(i / 300);
        std::vector<double> bin_p(10);
        std::vector<float> l(n);
        for (size_t i = 0; i < n; ++i) {
            l[i] = float(std::log(w[i]));
            bin_p[i / 300] += w[i] / z;
        }
        Sampler s(c, uint32_t(n));
        std::vector<uint64_t> seen(10);
        for (uint64_t i = 0; i < draws; ++i) ++seen[size_t(s.sample(l.data(), n)) / 300];
        CHECK(chi_square(seen, bin_p, draws) < 44.6);
    }
}

TEST_CASE("same seed, same tokens; another seed, other tokens; reset restarts") {
    const auto logits = realistic_logits(151936, 42);
    SamplerConfig c;
    c.temperature = 1.5f;  // enough spread that the draws differ
    c.top_k = 50;
    c.top_p = 0.95f;
    Sampler a(c, 151936), b(c, 151936);
    const auto first = run(a, logits, 40);
    CHECK(run(b, logits, 40) == first);
    c.seed = 7;
    Sampler other(c, 151936);
    CHECK(run(other, logits, 40) != first);
    a.reset();
    CHECK(run(a, logits, 40) == first);
}

TEST_CASE("a saved state continues exactly") {
    const auto logits = realistic_logits(151936, 43);
    SamplerConfig c;
    c.temperature = 1.3f;
    c.penalty_last_n = 16;
    c.repetition_penalty = 1.5f;
    Sampler a(c, 151936);
    const int32_t prompt[] = {1, 2, 3, 151935};
    a.accept(prompt, 4);
    run(a, logits, 25);
    std::string state;
    a.save_state(state);
    CHECK(state.size() == 56 + 4 * 16 + 17 + 8);  // the window holds the last 16 tokens; no grammar
    const auto next = run(a, logits, 30);

    Sampler b(c, 151936);  // a fresh sampler of the same params
    b.load_state(reinterpret_cast<const uint8_t*>(state.data()), state.size());
    std::string again;
    b.save_state(again);
    CHECK(again == state);
    CHECK(run(b, logits, 30) == next);
}

TEST_CASE("corrupted, truncated or foreign states are refused and change nothing") {
    const auto logits = realistic_logits(1000, 44);
    SamplerConfig c;
    c.temperature = 1.2f;
    c.penalty_last_n = 8;
    Sampler a(c, 1000);
    run(a, logits, 12);
    std::string good;
    a.save_state(good);

    Sampler b(c, 1000);
    run(b, logits, 3);
    std::string before;
    b.save_state(before);
    auto load = [&](const std::string& bytes, std::vector<std::string> fragments) {
        expect_error([&] { b.load_state(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()); },
                     QWEN_ERR_FORMAT, fragments);
        std::string now;
        b.save_state(now);
        CHECK(now == before);
    };
    for (size_t i = 0; i < good.size(); ++i) {  // any single flipped byte
        std::string bad = good;
        bad[i] = char(bad[i] ^ 0x20);
        load(bad, {"sampler state"});
    }
    load(good.substr(0, good.size() - 1), {"sampler state"});
    load(good.substr(0, 20), {"shorter"});
    load("", {"shorter"});
    load(good + "x", {"checksum"});
    Sampler wide(c, 1001);  // another vocabulary
    std::string foreign;
    wide.save_state(foreign);
    load(foreign, {"vocabulary of 1001"});
    SamplerConfig c2 = c;
    c2.penalty_last_n = 9;
    Sampler longer(c2, 1000);
    longer.save_state(foreign);
    load(foreign, {"penalty_last_n = 9"});

    // And the state itself loads fine into b afterwards.
    b.load_state(reinterpret_cast<const uint8_t*>(good.data()), good.size());
    CHECK(run(b, logits, 10) == run(a, logits, 10));
}

TEST_CASE("version 1 states (before grammar progress was saved) still load") {
    const auto logits = realistic_logits(1000, 45);
    SamplerConfig c;
    c.temperature = 1.1f;
    c.penalty_last_n = 4;
    Sampler a(c, 1000);
    run(a, logits, 7);
    std::string v2;
    a.save_state(v2);
    // Version 1 is version 2 without the 17-byte grammar part.
    std::string v1 = v2.substr(0, v2.size() - 8 - 17);
    v1[4] = 1;
    const uint64_t sum = qwen::fnv1a64(v1.data(), v1.size());
    v1.append(reinterpret_cast<const char*>(&sum), 8);
    Sampler b(c, 1000);
    b.load_state(reinterpret_cast<const uint8_t*>(v1.data()), v1.size());
    std::string again;
    b.save_state(again);
    CHECK(again == v2);
}
