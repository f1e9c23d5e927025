// Attention of one KV head's query group over the cache, written once over an xsimd
// architecture and compiled once per instruction set next to the dense matmul (the including
// file provides Arch, Batch and load_f16; see dense_impl.hpp for the rules).
//
// One call serves the `group` query heads that share a KV head (grouped-query attention:
// 7 of them in Qwen2.5-0.5B), so each key and value row is read from memory once, widened
// once, and used `group` times:
//   1. scores[h][p] = scale * q_h . k_p for every key p, keeping each head's maximum;
//   2. scores[h][p] = exp(scores[h][p] - max_h) (vectorized over p), summed per head;
//   3. out_h = sum_p scores[h][p] * v_p / sum_h (values in L1-sized blocks, below).
// Keys and values are rows of `row_bytes` bytes (F16 or F32 elements), this head's part
// starting at k / v.

template <bool F16>
static inline Batch load_kv(const uint8_t* row, size_t i) {
    if constexpr (F16)
        return load_f16(reinterpret_cast<const uint16_t*>(row) + i);
    else
        return Batch::load_unaligned(reinterpret_cast<const float*>(row) + i);
}

template <bool F16>
static void attend_impl(const float* q, uint32_t group, uint32_t D, const uint8_t* k, const uint8_t* v,
                        size_t row_bytes, uint32_t n, float scale, float* scores, float* out) {
    constexpr uint32_t kMaxGroup = 16, kMaxVec = 256 / kLanes;  // head_dim <= 256
    const uint32_t nv = D / uint32_t(kLanes);
    float mx[kMaxGroup];
    for (uint32_t h = 0; h < group; ++h) mx[h] = -INFINITY;
    for (uint32_t p = 0; p < n; ++p) {
        const uint8_t* kr = k + size_t(p) * row_bytes;
        Batch kb[kMaxVec];
        for (uint32_t j = 0; j < nv; ++j) kb[j] = load_kv<F16>(kr, size_t(j) * kLanes);
        for (uint32_t h = 0; h < group; ++h) {
            const float* qh = q + size_t(h) * D;
            Batch acc = kb[0] * Batch::load_unaligned(qh);
            for (uint32_t j = 1; j < nv; ++j) acc = xsimd::fma(kb[j], Batch::load_unaligned(qh + j * kLanes), acc);
            const float s = xsimd::hadd(acc) * scale;
            scores[size_t(h) * n + p] = s;
            mx[h] = s > mx[h] ? s : mx[h];
        }
    }
    float inv_sum[kMaxGroup];
    for (uint32_t h = 0; h < group; ++h) {
        float* sc = scores + size_t(h) * n;
        const Batch m(mx[h]);
        Batch sum(0.0f);
        uint32_t p = 0;
        for (; p + kLanes <= n; p += uint32_t(kLanes)) {
            const Batch e = xsimd::exp(Batch::load_unaligned(sc + p) - m);
            e.store_unaligned(sc + p);
            sum += e;
        }
        float tail = 0.0f;
        for (; p < n; ++p) {
            sc[p] = std::exp(sc[p] - mx[h]);
            tail += sc[p];
        }
        inv_sum[h] = 1.0f / (xsimd::hadd(sum) + tail);
    }
    // Values in blocks of kBlock rows: a block (16 KiB of F16 head slices) stays in L1 while
    // every head of the group consumes it with its accumulators in registers, so each value
    // row comes from memory once however many heads share it.
    constexpr uint32_t kBlock = 128;
    for (uint32_t p0 = 0; p0 < n; p0 += kBlock) {
        const uint32_t p1 = n - p0 < kBlock ? n : p0 + kBlock;
        for (uint32_t h = 0; h < group; ++h) {
            float* oh = out + size_t(h) * D;
            Batch acc[kMaxVec];
            for (uint32_t j = 0; j < nv; ++j) acc[j] = p0 ? Batch::load_unaligned(oh + j * kLanes) : Batch(0.0f);
            const float* sc = scores + size_t(h) * n;
            for (uint32_t p = p0; p < p1; ++p) {
                const uint8_t* vr = v + size_t(p) * row_bytes;
                const Batch w(sc[p]);
                for (uint32_t j = 0; j < nv; ++j) acc[j] = xsimd::fma(w, load_kv<F16>(vr, size_t(j) * kLanes), acc[j]);
            }
            if (p1 == n)
                for (uint32_t j = 0; j < nv; ++j) acc[j] *= Batch(inv_sum[h]);
            for (uint32_t j = 0; j < nv; ++j) acc[j].store_unaligned(oh + j * kLanes);
        }
    }
}

// Entry point taken into the dispatch table. Needs head_dim a multiple of the vector width,
// at most 256, and group <= 16 (callers check attend_supported()).
void attend(const float* q, uint32_t group, uint32_t D, const uint8_t* k, const uint8_t* v, size_t row_bytes,
            uint32_t n, bool f16, float scale, float* scores, float* out) {
    if (f16)
        attend_impl<true>(q, group, D, k, v, row_bytes, n, scale, scores, out);
    else
        attend_impl<false>(q, group, D, k, v, row_bytes, n, scale, scores, out);
}
