// Attention of one KV head's query group over the cache, written once over an xsimd
// architecture and compiled once per instruction set next to the dense matmul (the including
// file provides Arch, Batch, load_f16 and sum_lanes; see dense_impl.hpp for the rules).
//
// One call serves the `group` query heads that share a KV head (grouped-query attention:
// 7 of them in Qwen2.5-0.5B), so each key and value row is read from memory once, widened
// once, and used `group` times:
//   1. scores[h][p] = scale * q_h . k_p for every key p, keeping each head's maximum;
//   2. scores[h][p] = exp(scores[h][p] - max_h) (vectorized over p), summed per head;
//   3. out_h = sum_p scores[h][p] * v_p / sum_h (values in L1-sized blocks, below).
// F16 keys and values are widened to float once per block into a stack buffer, not once per
// head.
// Keys and values are rows of `row_bytes` bytes (F16 or F32 elements), this head's part
// starting at k / v.

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
            // The rows are this head's slice of each cache row (a strided stream): fetch the
            // row 64 ahead, which the hardware prefetchers do not do in time (decode at 2,048
            // cached tokens: +20%). The address may lie past the cache's end; a prefetch
            // never faults.
            for (size_t at = 0; at < 2 * D; at += 64) __builtin_prefetch(row + 64 * row_bytes + at);
            for (uint32_t j = 0; j < D; j += uint32_t(kLanes))
                load_kv<true>(row, j).store_aligned(tmp + size_t(i) * D + j);
        }
        ld = D;
        return tmp;
    }
}

// NV: the vectors per head row (D / kLanes) when known at compile time, else 0. With it
// known, step 3's accumulators live in registers; with a run-time count the compiler keeps
// them on the stack, and every value row then goes through a load-FMA-store chain per vector
// (perf: most of a decode step at 8,192 cached tokens).
template <bool F16, uint32_t NV>
static void attend_impl(const float* q, uint32_t group, uint32_t D, const uint8_t* k, const uint8_t* v,
                        size_t row_bytes, uint32_t n, float scale, float* scores, float* out) {
    constexpr uint32_t kMaxGroup = 16, kMaxVec = 256 / kLanes, L = uint32_t(kLanes);  // head_dim <= 256
    const uint32_t nv = NV ? NV : D / L;
    alignas(64) float tmp[32 * 256];  // widened F16 rows: 32 values or kLanes keys
    float mx[kMaxGroup];
    Batch mx_block[kMaxGroup];  // the maxima of step 1's vectors of scores, lane by lane
    for (uint32_t h = 0; h < group; ++h) mx[h] = -INFINITY, mx_block[h] = Batch(-INFINITY);
    // 1. Scores, kLanes keys at a time: each head's kLanes dot products stay as vectors of
    //    partial sums until one transposing sum (sum_lanes) turns them into a vector of
    //    kLanes scores, stored and maxed as a vector.
    uint32_t p = 0;
    for (; p + L <= n; p += L) {
        size_t ld;
        const float* kr = float_rows<F16>(k, row_bytes, p, L, D, tmp, ld);
        for (uint32_t h = 0; h < group; ++h) {
            const float* qh = q + size_t(h) * D;
            Batch acc[kLanes];
            for (uint32_t i = 0; i < L; ++i) acc[i] = Batch(0.0f);
            for (uint32_t j = 0; j < nv; ++j) {
                const Batch qv = Batch::load_unaligned(qh + j * L);
                for (uint32_t i = 0; i < L; ++i) acc[i] = xsimd::fma(Batch::load_unaligned(kr + i * ld + j * L), qv, acc[i]);
            }
            const Batch s = sum_lanes(acc) * Batch(scale);
            s.store_unaligned(scores + size_t(h) * n + p);
            mx_block[h] = xsimd::max(mx_block[h], s);
        }
    }
    for (; p < n; ++p) {  // the last keys one at a time
        const uint8_t* kr = k + size_t(p) * row_bytes;
        Batch kb[kMaxVec];
        for (uint32_t j = 0; j < nv; ++j) kb[j] = load_kv<F16>(kr, size_t(j) * L);
        for (uint32_t h = 0; h < group; ++h) {
            const float* qh = q + size_t(h) * D;
            Batch acc = kb[0] * Batch::load_unaligned(qh);
            for (uint32_t j = 1; j < nv; ++j) acc = xsimd::fma(kb[j], Batch::load_unaligned(qh + j * L), acc);
            const float s = xsimd::hadd(acc) * scale;
            scores[size_t(h) * n + p] = s;
            mx[h] = s > mx[h] ? s : mx[h];
        }
    }
    // 2. Softmax numerators and their sums.
    float inv_sum[kMaxGroup];
    for (uint32_t h = 0; h < group; ++h) {
        alignas(64) float lanes[kLanes];
        mx_block[h].store_aligned(lanes);
        for (float x : lanes) mx[h] = x > mx[h] ? x : mx[h];
        float* sc = scores + size_t(h) * n;
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
            const float* sc = scores + size_t(h) * n + p0;
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
