#include "kernels/dispatch.hpp"

#include "core/cpu.hpp"

#include <xsimd/xsimd.hpp>

namespace qwen::kernels {

const KernelTable& kernel_table() {
    static const KernelTable table = []() -> KernelTable {
        switch (best_isa()) {
#if defined(__x86_64__)
        case Isa::Avx512: return {"avx512", 16, avx512::dense_matmul_rows, avx512::attend};
        case Isa::Avx2: return {"avx2", 8, avx2::dense_matmul_rows, avx2::attend};
#endif
        default: return {"generic", xsimd::batch<float>::size, generic::dense_matmul_rows, generic::attend};
        }
    }();
    return table;
}

}  // namespace qwen::kernels
