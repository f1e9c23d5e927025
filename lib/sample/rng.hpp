// The sampler's random stream: xoshiro256** (Blackman & Vigna), seeded through splitmix64.
// Every step is integer arithmetic with a published definition, so the same seed gives the
// same numbers with any compiler, standard library and machine - which std::mt19937 would,
// but std::uniform_real_distribution (implementation-defined) would not.
#pragma once

#include <cstdint>

namespace qwen {

class Rng {
public:
    explicit Rng(uint64_t seed = 0) { seed_with(seed); }

    // splitmix64 expands the seed, so nearby seeds give unrelated streams and no seed gives
    // the all-zero state (from which xoshiro never leaves).
    void seed_with(uint64_t seed) {
        for (uint64_t& w : s_) {
            seed += 0x9E3779B97F4A7C15ull;
            uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            w = z ^ (z >> 31);
        }
    }

    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 random bits: every value is a multiple of 2^-53.
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }

    const uint64_t* state() const { return s_; }
    // The caller guarantees the words are not all zero.
    void set_state(const uint64_t (&s)[4]) {
        for (int i = 0; i < 4; ++i) s_[i] = s[i];
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

}  // namespace qwen
