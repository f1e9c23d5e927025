// Dense matmul and attention for the baseline instruction set of the build target (SSE2 on x86-64,
// NEON on AArch64), through xsimd's default architecture.
#include "core/aligned_buffer.hpp"
#include "kernels/dispatch.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <type_traits>
#include <xsimd/xsimd.hpp>

namespace qwen::kernels::generic {

using Arch = xsimd::default_arch;

static inline float widen_f16(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
        float v = float(mant) * 0x1p-24f;
        return sign ? -v : v;
    }
    return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

static inline xsimd::batch<float, Arch> load_f16(const uint16_t* p) {
    alignas(64) float tmp[xsimd::batch<float, Arch>::size];
    for (size_t i = 0; i < xsimd::batch<float, Arch>::size; ++i) tmp[i] = widen_f16(p[i]);
    return xsimd::batch<float, Arch>::load_aligned(tmp);
}
static inline xsimd::batch<float, Arch> load_bf16(const uint16_t* p) {
    alignas(64) uint32_t tmp[xsimd::batch<float, Arch>::size];
    for (size_t i = 0; i < xsimd::batch<float, Arch>::size; ++i) tmp[i] = uint32_t(p[i]) << 16;
    return xsimd::batch<float, Arch>::load_aligned(reinterpret_cast<const float*>(tmp));
}

#include "kernels/dense_impl.hpp"
#include "kernels/attention_impl.hpp"
#include "kernels/act_quant_impl.hpp"

}  // namespace qwen::kernels::generic
