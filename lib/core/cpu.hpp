// What the CPU we run on can do, read once (CPUID on x86, the kernel's hardware capabilities
// on AArch64). Kernels are chosen from this at run time so that one binary uses the best path
// on any x86-64 and on any AArch64 CPU.
#pragma once

#include <string>

namespace qwen {

// Scalar is the portable xsimd path (itself SSE2 on x86-64, NEON on AArch64).
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };

struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
    bool avx_vnni = false;
    // AMX tiles, usable: the CPU has them (AMX-INT8 with AVX512_VNNI, AMX-BF16 with
    // AVX512_BF16), the OS saves their state (XCR0) and, on Linux, granted this process their
    // use (arch_prctl ARCH_REQ_XCOMP_PERM, asked when these are first read). Both false when
    // QWEN_AMX=0, which then asks the OS nothing.
    bool amx_int8 = false, amx_bf16 = false;
    bool asimd = false, asimddp = false;  // AArch64: Advanced SIMD, and its ARMv8.2 dot product (sdot)
};

const CpuFeatures& cpu_features();

// The best kernel path this CPU supports, lowered by the QWEN_ISA environment variable
// ("scalar", "avx2", "avx512" on x86-64; "scalar", "neon" on AArch64) so tests can force
// each path. Read once per process.
Isa best_isa();
const char* isa_name(Isa isa);

}  // namespace qwen
