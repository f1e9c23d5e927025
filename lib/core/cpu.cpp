#include "core/cpu.hpp"

#include <cstdlib>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>  // getauxval, and the HWCAP_* bits on glibc
#endif

namespace qwen {

#if defined(__x86_64__) || defined(__i386__)
// AMX-TILE and the given AMX-* feature bit in CPUID leaf 7's EDX, the tile configuration and
// data state enabled in XCR0, and (Linux 5.16+) this process's permission to use the tile
// data, which the kernel grants on request (asked again for each feature: a granted request
// is granted again); without it the first tile instruction faults.
static bool amx_usable(int feature_bit) {
    if (const char* env = std::getenv("QWEN_AMX"); env && !std::strcmp(env, "0")) return false;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((d >> 24) & 1) || !((d >> feature_bit) & 1)) return false;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return false;  // OSXSAVE: xgetbv works
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return false;  // XTILECFG and XTILEDATA
#if defined(__x86_64__) && defined(__linux__)
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;  // other systems: not tried here
#endif
}
#endif

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
        c.amx_int8 = c.avx512vnni && amx_usable(25);  // AMX-INT8
        c.amx_bf16 = c.avx512bf16 && amx_usable(22);  // AMX-BF16
#elif defined(__aarch64__) && defined(__linux__)
        // User space cannot read the ID registers portably; the kernel reports them here.
        const unsigned long hw = getauxval(AT_HWCAP);
        c.asimd = hw & HWCAP_ASIMD;
        c.asimddp = c.asimd && (hw & HWCAP_ASIMDDP);
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
    if (c.asimd) best = Isa::Neon;
    if (const char* forced = std::getenv("QWEN_ISA")) {
        // Only this architecture's names count (the others, like unknown ones, change
        // nothing), so comparing the enum values orders paths of one architecture only.
        Isa want = best;
        if (!std::strcmp(forced, "scalar")) want = Isa::Scalar;
#if defined(__x86_64__) || defined(__i386__)
        else if (!std::strcmp(forced, "avx2")) want = Isa::Avx2;
        else if (!std::strcmp(forced, "avx512")) want = Isa::Avx512;
#elif defined(__aarch64__)
        else if (!std::strcmp(forced, "neon")) want = Isa::Neon;
#endif
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
    case Isa::Neon: return "neon";
    }
    return "?";
}

}  // namespace qwen
