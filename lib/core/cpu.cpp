#include "core/cpu.hpp"

#include <cstdlib>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace qwen {

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = [] {
        CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        c.avx2 = __builtin_cpu_supports("avx2");
        c.fma = __builtin_cpu_supports("fma");
        c.avx512f = __builtin_cpu_supports("avx512f");
        c.avx512bw = __builtin_cpu_supports("avx512bw");
        c.avx512vl = __builtin_cpu_supports("avx512vl");
        c.avx512vnni = __builtin_cpu_supports("avx512vnni");
        c.avx512bf16 = __builtin_cpu_supports("avx512bf16");
        // F16C and AVX-VNNI straight from CPUID: clang 14's __builtin_cpu_supports does not
        // know them. Both are only usable where the OS saves the YMM registers, which the
        // avx2 check above includes.
        unsigned a = 0, b = 0, cx = 0, d = 0;
        c.f16c = c.avx2 && __get_cpuid(1, &a, &b, &cx, &d) && ((cx >> 29) & 1);
        c.avx_vnni = c.avx2 && __get_cpuid_count(7, 1, &a, &b, &cx, &d) && ((a >> 4) & 1);
#endif
        return c;
    }();
    return f;
}

static Isa detect_isa() {
    const CpuFeatures& c = cpu_features();
    Isa best = Isa::Scalar;
    if (c.avx2 && c.fma && c.f16c) best = Isa::Avx2;
    if (best == Isa::Avx2 && c.avx512f && c.avx512bw && c.avx512vl) best = Isa::Avx512;
    if (const char* forced = std::getenv("QWEN_ISA")) {
        Isa want = best;
        if (!std::strcmp(forced, "scalar")) want = Isa::Scalar;
        else if (!std::strcmp(forced, "avx2")) want = Isa::Avx2;
        else if (!std::strcmp(forced, "avx512")) want = Isa::Avx512;
        if (want < best) best = want;  // never raise above what the CPU has
    }
    return best;
}

Isa best_isa() {
    static const Isa isa = detect_isa();
    return isa;
}

const char* isa_name(Isa isa) {
    switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    }
    return "?";
}

}  // namespace qwen
