// Attention of one KV head's query group over the cache, written once over an xsimd
// architecture and compiled once per instruction set next to the dense matmul (the including
// file provides Arch, Batch and load_f16; see dense_impl.hpp for the rules).
//
// One call serves the `group` query heads that share a KV head (grouped-query attention:
// 7 of them in Qwen2.5-0.5B), so each key and value is read from memory once, widened
// once, and used `group` times:
//   1. scores[h][p] = scale * q_h . k_p for every key p, keeping each head's maximum. The
//      keys come in tiles of kKeyTile positions stored dimension-major (kv/kv_cache.hpp):
//      one load gives dimension d of kLanes keys, and each head adds q_h[d] times it to
//      its vector of kLanes scores, so no sum across lanes is needed;
//   2. scores[h][p] = exp(scores[h][p] - max_h) (vectorized over p), summed per head;
//   3. out_h = sum_p scores[h][p] * v_p / sum_h (values in L1-sized blocks, below).
// Values are rows `row_bytes` apart (F16 or F32 elements), this head's starting at v; F16
// values are widened to float once per block into a stack buffer, not once per head.
// Every head's arithmetic is its own and in the same order whatever the call, so a token's
// result does not depend on the batch it came in.

template <bool F16>
static inline Batch load_kv(const uint8_t* row, size_t i) {
    if constexpr (F16)
        return load_f16(reinterpret_cast<const uint16_t*>(row) + i);
    else
        return Batch::load_unaligned(reinterpret_cast<const float*>(row) + i);
}

// Rows p0 .. p0 + m - 1 of a cache slice as float rows: F32 rows in place, F16 rows widened
// once into `tmp` (m x D floats), so that every head of the group reads floats.
template <bool F16>
static inline const float* float_rows(const uint8_t* base, size_t row_bytes, uint32_t p0, uint32_t m, uint32_t D,
                                      float* tmp, size_t& ld) {
    if constexpr (!F16) {
        ld = row_bytes / sizeof(float);
        return reinterpret_cast<const float*>(base + size_t(p0) * row_bytes);
    } else {
        for (uint32_t i = 0; i < m; ++i) {
            const uint8_t* row = base + size_t(p0 + i) * row_bytes;
            // Fetch the row 64 ahead, which the hardware prefetchers did not do in time when
            // the rows were a strided stream (decode at 2,048 cached tokens: +20%). The
            // address may lie past the cache's end; a prefetch never faults.
            for (size_t at = 0; at < 2 * D; at += 64) __builtin_prefetch(row + 64 * row_bytes + at);
            for (uint32_t j = 0; j < D; j += uint32_t(kLanes))
                load_kv<true>(row, j).store_aligned(tmp + size_t(i) * D + j);
        }
        ld = D;
        return tmp;
    }
}

// The scores' row stride: whole tiles, since step 1 stores every lane of the last one.
static inline size_t scores_stride(uint32_t n) { return (size_t(n) + kKeyTile - 1) / kKeyTile * kKeyTile; }

// Step 1 for G heads (known at compile time, so that their accumulators stay in registers):
// scores[h * scores_stride(n) + p] = scale * q_h . k_p and mx[h] = max_p, for p < n. Lanes of
// the last tile past n hold whatever those positions hold; they are scored (and never read)
// but kept out of the maximum.
template <bool F16, uint32_t G>
static void scores_tiled(const float* q, uint32_t D, const uint8_t* k, uint32_t n, float scale, float* scores,
                         float* mx) {
    constexpr uint32_t L = uint32_t(kLanes), VT = kKeyTile / L;  // vectors per tile
    static_assert(kKeyTile % kLanes == 0, "a key tile is whole vectors");
    const size_t lds = scores_stride(n), tile_bytes = size_t(kKeyTile) * D * (F16 ? 2 : 4);
    Batch best[G];
    for (uint32_t h = 0; h < G; ++h) best[h] = Batch(-INFINITY);
    const uint32_t tiles = (n + kKeyTile - 1) / kKeyTile;
    for (uint32_t t = 0; t < tiles; ++t) {
        const uint8_t* tile = k + t * tile_bytes;
        // The tiles are one sequential stream per head: fetch 4 KiB ahead.
        for (size_t at = 0; at < tile_bytes; at += 64) __builtin_prefetch(tile + 4096 + at);
        for (uint32_t vt = 0; vt < VT; ++vt) {
            Batch acc[G];
            for (uint32_t h = 0; h < G; ++h) acc[h] = Batch(0.0f);
            for (uint32_t d = 0; d < D; ++d) {
                const Batch kv = load_kv<F16>(tile, size_t(d) * kKeyTile + vt * L);
                for (uint32_t h = 0; h < G; ++h) acc[h] = xsimd::fma(Batch(q[size_t(h) * D + d]), kv, acc[h]);
            }
            const uint32_t p = t * kKeyTile + vt * L;
            for (uint32_t h = 0; h < G; ++h) {
                const Batch s = acc[h] * Batch(scale);
                s.store_unaligned(scores + h * lds + p);
                if (p + L <= n) {
                    best[h] = xsimd::max(best[h], s);
                } else {
                    for (uint32_t i = p; i < n; ++i) mx[h] = scores[h * lds + i] > mx[h] ? scores[h * lds + i] : mx[h];
                }
            }
        }
    }
    for (uint32_t h = 0; h < G; ++h) {
        alignas(64) float lanes[kLanes];
        best[h].store_aligned(lanes);
        for (float x : lanes) mx[h] = x > mx[h] ? x : mx[h];
    }
}

// scores_tiled for a run-time group size (1 .. kMaxAttendGroup).
template <bool F16, uint32_t G = 1>
static void scores_for_group(uint32_t group, const float* q, uint32_t D, const uint8_t* k, uint32_t n, float scale,
                             float* scores, float* mx) {
    if constexpr (G <= kMaxAttendGroup) {
        if (group == G)
            scores_tiled<F16, G>(q, D, k, n, scale, scores, mx);
        else
            scores_for_group<F16, G + 1>(group, q, D, k, n, scale, scores, mx);
    }
}

// NV: the vectors per head row (D / kLanes) when known at compile time, else 0. With it
// known, step 3's accumulators live in registers; with a run-time count the compiler keeps
// them on the stack, and every value row then goes through a load-FMA-store chain per vector
// (perf: most of a decode step at 8,192 cached tokens).
template <bool F16, uint32_t NV>
static void attend_impl(const float* q, uint32_t group, uint32_t D, const uint8_t* k, const uint8_t* v,
                        size_t row_bytes, uint32_t n, float scale, float* scores, float* out) {
    constexpr uint32_t kMaxVec = 256 / kLanes, L = uint32_t(kLanes);  // head_dim <= 256
    const uint32_t nv = NV ? NV : D / L;
    alignas(64) float tmp[32 * 256];  // 32 value rows widened from F16
    float mx[kMaxAttendGroup];
    for (uint32_t h = 0; h < group; ++h) mx[h] = -INFINITY;
    // 1. Scores and each head's maximum.
    scores_for_group<F16>(group, q, D, k, n, scale, scores, mx);
    // 2. Softmax numerators and their sums.
    float inv_sum[kMaxAttendGroup];
    const size_t lds = scores_stride(n);
    for (uint32_t h = 0; h < group; ++h) {
        float* sc = scores + size_t(h) * lds;
        const Batch m(mx[h]);
        Batch sum(0.0f);
        uint32_t i = 0;
        for (; i + L <= n; i += L) {
            const Batch e = xsimd::exp(Batch::load_unaligned(sc + i) - m);
            e.store_unaligned(sc + i);
            sum += e;
        }
        float tail = 0.0f;
        for (; i < n; ++i) {
            sc[i] = std::exp(sc[i] - mx[h]);
            tail += sc[i];
        }
        inv_sum[h] = 1.0f / (xsimd::hadd(sum) + tail);
    }
    // 3. Values in blocks of 32 rows, widened once (32 KiB at head_dim 256) and consumed by
    //    every head of the group with its accumulators in registers.
    constexpr uint32_t kBlock = 32;
    for (uint32_t p0 = 0; p0 < n; p0 += kBlock) {
        const uint32_t m = n - p0 < kBlock ? n - p0 : kBlock;
        size_t ld;
        const float* vr = float_rows<F16>(v, row_bytes, p0, m, D, tmp, ld);
        for (uint32_t h = 0; h < group; ++h) {
            float* oh = out + size_t(h) * D;
            Batch acc[NV ? NV : kMaxVec];
            for (uint32_t j = 0; j < nv; ++j) acc[j] = p0 ? Batch::load_unaligned(oh + j * L) : Batch(0.0f);
            const float* sc = scores + size_t(h) * lds + p0;
            for (uint32_t i = 0; i < m; ++i) {
                const Batch w(sc[i]);
                for (uint32_t j = 0; j < nv; ++j) acc[j] = xsimd::fma(w, Batch::load_unaligned(vr + i * ld + j * L), acc[j]);
            }
            if (p0 + m == n)
                for (uint32_t j = 0; j < nv; ++j) acc[j] *= Batch(inv_sum[h]);
            for (uint32_t j = 0; j < nv; ++j) acc[j].store_unaligned(oh + j * L);
        }
    }
}

// Entry point taken into the dispatch table. Needs head_dim a multiple of the vector width,
// at most 256, and group <= 16 (callers check attend_supported()).
void attend(const float* q, uint32_t group, uint32_t D, const uint8_t* k, const uint8_t* v, size_t row_bytes,
            uint32_t n, bool f16, float scale, float* scores, float* out) {
    // Qwen2.5-0.5B's head_dim of 64 is 4 vectors of AVX-512, 8 of AVX2, 16 of NEON.
    const auto run = [&]<uint32_t NV>() {
        if (f16)
            attend_impl<true, NV>(q, group, D, k, v, row_bytes, n, scale, scores, out);
        else
            attend_impl<false, NV>(q, group, D, k, v, row_bytes, n, scale, scores, out);
    };
    switch (D / kLanes) {
    case 4: run.template operator()<4>(); break;
    case 8: run.template operator()<8>(); break;
    default: run.template operator()<0>(); break;
    }
}
