// Dense matmul and attention for AArch64's Advanced SIMD (every AArch64 CPU): 4 floats per
// vector, products by vfmaq_f32 (xsimd's fma), F16 widened by vcvt_f32_f16 (FCVTL, base
// ARMv8.0) instead of the portable path's scalar bit manipulation.
#include "core/aligned_buffer.hpp"
#include "kernels/dispatch.hpp"

#include <algorithm>
#include <arm_neon.h>
#include <cmath>
#include <type_traits>
#include <xsimd/xsimd.hpp>

namespace qwen::kernels::neon {

using Arch = xsimd::neon64;

static inline xsimd::batch<float, Arch> load_f16(const uint16_t* p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}
static inline xsimd::batch<float, Arch> load_bf16(const uint16_t* p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

#include "kernels/dense_impl.hpp"
#include "kernels/attention_impl.hpp"
#include "kernels/act_quant_impl.hpp"

}  // namespace qwen::kernels::neon
