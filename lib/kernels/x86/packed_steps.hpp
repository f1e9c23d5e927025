// The code steps of the packed 32-element formats (layout in kernels/packed.hpp), shared by
// the VNNI tiles (packed_avx512.cpp) and the AMX tiles (packed_amx.cpp). Internal linkage:
// each of those files is compiled for its own instruction sets, so each keeps its own copy.
#pragma once

#include "kernels/packed.hpp"
#include "quant/iq_grids.hpp"

#include <cstring>
#include <immintrin.h>
#include <type_traits>
#include <utility>

namespace qwen::kernels {
namespace {

constexpr size_t kR = kPackRows;

// f(std::integral_constant<int, i>{}) for i = 0 .. N-1: the index is a constant in every
// call, so arrays indexed by it stay in registers.
template <int N, class F>
inline void unrolled(F&& f) {
    [&]<int... i>(std::integer_sequence<int, i...>) { (f(std::integral_constant<int, i>{}), ...); }(
        std::make_integer_sequence<int, N>{});
}

// Each format's block: its bytes in the packed layout, where its codes start, the offset
// of its unsigned codes (log2; -1: none), the groups a prompt's tile takes at once (see
// groups()), whether it has per-row minimums m (after the scales, x = d q + m), and its 8
// code steps: step(blk, s) is codes 4s .. 4s+3 of every row as 64 unsigned bytes.
struct P8 {
    static constexpr size_t kElems = 32, kBytes = kR * 34, kCodes = 2 * kR;
    static constexpr int kShift = 7, kGroups = 2;
    static constexpr bool kMins = false;
    static __m512i step(const uint8_t* blk, int s) { return _mm512_loadu_si512(blk + kCodes + 64 * s); }
};

// Steps s and s + 4 are the low and high nibbles of the same 64 bytes (read twice from L1:
// the compiler folds the load into the and of step s and the shift of step s + 4).
template <class Decode>
struct Nibbles {
    static __m512i step(const uint8_t* blk, int s) {
        const __m512i low = _mm512_set1_epi8(0x0F);
        const uint8_t* codes = blk + Decode::kCodes;
        const __m512i v = _mm512_loadu_si512(codes + 64 * (s & 3));
        return Decode::code(codes, s, _mm512_and_si512(s < 4 ? v : _mm512_srli_epi16(v, 4), low));
    }
};

// Bit 4 of the codes of step s, from the masks after the 4 nibble vectors.
inline __m512i add_bit4(const uint8_t* codes, int s, __m512i n) {
    __mmask64 hi;
    std::memcpy(&hi, codes + 256 + 8 * s, 8);
    return _mm512_mask_add_epi8(n, hi, n, _mm512_set1_epi8(16));
}

struct P4 : Nibbles<P4> {
    static constexpr size_t kElems = 32, kBytes = kR * 18, kCodes = 2 * kR;
    static constexpr int kShift = 3, kGroups = 2;
    static constexpr bool kMins = false;
    static __m512i code(const uint8_t*, int, __m512i n) { return n; }
};

struct P5 : Nibbles<P5> {
    static constexpr size_t kElems = 32, kBytes = kR * 22, kCodes = 2 * kR;
    static constexpr int kShift = 4, kGroups = 2;
    static constexpr bool kMins = false;
    static __m512i code(const uint8_t* codes, int s, __m512i n) { return add_bit4(codes, s, n); }
};

struct P41 : Nibbles<P41> {
    static constexpr size_t kElems = 32, kBytes = kR * 20, kCodes = 4 * kR;
    static constexpr int kShift = -1, kGroups = 2;
    static constexpr bool kMins = true;
    static __m512i code(const uint8_t*, int, __m512i n) { return n; }
};

struct P51 : Nibbles<P51> {
    static constexpr size_t kElems = 32, kBytes = kR * 24, kCodes = 4 * kR;
    static constexpr int kShift = -1, kGroups = 2;
    static constexpr bool kMins = true;
    static __m512i code(const uint8_t* codes, int s, __m512i n) { return add_bit4(codes, s, n); }
};

// The IQ4 levels offset by 128 (x ^ 0x80 of a signed byte) for the level indices n.
inline __m512i iq4_levels(__m512i n) {
    const __m512i table = _mm512_xor_si512(
        _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlValues))),
        _mm512_set1_epi8(char(0x80)));
    return _mm512_shuffle_epi8(table, n);
}

struct PNL : Nibbles<PNL> {
    static constexpr size_t kElems = 32, kBytes = kR * 18, kCodes = 2 * kR;
    static constexpr int kShift = 7, kGroups = 2;
    static constexpr bool kMins = false;
    static __m512i code(const uint8_t*, int, __m512i n) { return iq4_levels(n); }
};

// f(P{}) with the step struct of a 32-element format; false (f not called) for any other type.
template <class F>
bool with_steps32(TensorType type, F&& f) {
    switch (type) {
    case TensorType::Q8_0: f(P8{}); return true;
    case TensorType::Q4_0: f(P4{}); return true;
    case TensorType::Q5_0: f(P5{}); return true;
    case TensorType::Q4_1: f(P41{}); return true;
    case TensorType::Q5_1: f(P51{}); return true;
    case TensorType::IQ4_NL: f(PNL{}); return true;
    default: return false;
    }
}

}  // namespace
}  // namespace qwen::kernels
