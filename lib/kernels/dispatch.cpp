#include "kernels/dispatch.hpp"

#include "core/cpu.hpp"

#include <xsimd/xsimd.hpp>

namespace qwen::kernels {

const KernelTable& kernel_table() {
    static const KernelTable table = []() -> KernelTable {
        switch (best_isa()) {
#if defined(__x86_64__)
        case Isa::Avx512: {
            // The AVX-512 integer dot products are VNNI's vpdpbusd; a CPU with AVX-512 but no
            // VNNI (Skylake-X) keeps AVX2's maddubs kernels, which compute the same sums.
            // The packed and transient kernels are VNNI only. BF16 weights use vdpbf16ps where the CPU has
            // AVX512_BF16 (Zen 4, Sapphire Rapids), else they are widened to float.
            KernelTable t{"avx512", 16, avx512::dense_matmul_rows, avx2::quant_matmul_rows, nullptr, nullptr,
                          avx512::attend, nullptr, nullptr, avx512::quantize_act_row, avx512::silu_mul};
            if (cpu_features().avx512vnni) {
                t.quant_rows = avx512::quant_matmul_rows;
                t.packed_rows = avx512::packed_matmul_groups;
                t.transient_rows = avx512::transient_matmul_groups;
                // Prompts of the 32-element formats on AMX tiles (Sapphire Rapids and later),
                // bit for bit the VNNI kernel's results; QWEN_AMX=0 keeps VNNI.
                if (cpu_features().amx_int8) t.packed_rows = amx::packed_matmul_groups;
            }
            if (cpu_features().avx512bf16) {
                t.round_bf16 = avx512bf16::round_bf16;
                t.bf16_rows = avx512bf16::bf16_matmul_rows;
                // Tiles for every BF16 product (Sapphire Rapids and later); QWEN_AMX=0 keeps vdpbf16ps.
                if (cpu_features().amx_bf16) t.bf16_tiles = amx::bf16_tile_groups;
            }
            return t;
        }
        case Isa::Avx2:
            return {"avx2", 8, avx2::dense_matmul_rows, avx2::quant_matmul_rows, nullptr, nullptr, avx2::attend,
                    nullptr, nullptr, avx2::quantize_act_row, avx2::silu_mul};
#endif
#if defined(__aarch64__)
        case Isa::Neon:
            // The integer kernels are sdot (ARMv8.2 dotprod, e.g. Cortex-A55/A76 and later); an
            // ARMv8.0 CPU (Cortex-A53/A72) keeps the portable ones, which compute the same sums.
            if (cpu_features().asimddp)
                return {"neon+dotprod", 4, neon::dense_matmul_rows, neon::quant_matmul_rows, nullptr, nullptr,
                        neon::attend, nullptr, nullptr, neon::quantize_act_row, neon::silu_mul};
            return {"neon", 4, neon::dense_matmul_rows, generic::quant_matmul_rows, nullptr, nullptr, neon::attend,
                    nullptr, nullptr, neon::quantize_act_row, neon::silu_mul};
#endif
        default:
            return {"generic", xsimd::batch<float>::size, generic::dense_matmul_rows, generic::quant_matmul_rows,
                    nullptr, nullptr, generic::attend, nullptr, nullptr, generic::quantize_act_row,
                    generic::silu_mul};
        }
    }();
    return table;
}

TensorType quant_act_type(TensorType type) {
    switch (type) {
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::Q8_0:
    case TensorType::IQ4_NL: return TensorType::Q8_0;
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
    case TensorType::IQ4_XS:
    case TensorType::IQ2_XXS:
    case TensorType::IQ2_XS:
    case TensorType::IQ2_S:
    case TensorType::IQ3_XXS:
    case TensorType::IQ3_S: return TensorType::Q8_K;
    default: return TensorType::F32;
    }
}

}  // namespace qwen::kernels
