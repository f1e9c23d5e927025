// Weights repacked at load time for the row-interleaved integer-dot kernels.
//
// The kernels in x86/quant_impl.hpp read a GGUF row as it is stored: one row at a time, a
// block's 32 codes side by side, so each block's sum takes a horizontal reduction and each
// row a separate pass over the activations. The packed layout interleaves 16 rows instead:
// for one 32-element block of 16 consecutive rows, lane r of a 512-bit vector holds 4
// adjacent codes of row r, so one vpdpbusd adds 4 products to each of the 16 rows' sums
// with one broadcast 4-byte activation chunk, and the 16 results land in one vector that is
// stored as is (no horizontal sums). Prefill reuses each unpacked weight vector for several
// tokens the same way.
//
// Layout of a packed matrix (rows a multiple of 16, cols of the block size): groups of 16
// rows one after the other; in a group, blocks b = 0 .. cols/block - 1 one after the other.
// A code "step" s of a block is its elements 4s .. 4s+3; a step vector is 64 bytes, row r's
// 4 codes at 4r. A block of the 32-element formats is
//   16 f16 scales d (row r at index r)                                         32 bytes
//   Q4_1 Q5_1:     16 f16 minimums m                                            32 bytes
//   Q8_0:          8 step vectors, codes stored as q ^ 0x80 (unsigned q + 128)
//   Q4_0 IQ4_NL:   4 vectors of the file's own qs bytes 4j .. 4j+3, whose low nibbles
//   Q4_1 Q5_0      are step j and high nibbles step j + 4
//   Q5_1:
//   Q5_0 Q5_1: 8 little-endian 64-bit masks, mask s bit 4r+i = bit 4 of code 4s+i of row r
// so it takes exactly the 16 rows' bytes in the file (18 to 34 per row per block). A
// 256-element super-block of the K-quants holds unsigned codes u in 32 vectors whose low
// nibbles are step 2v and high nibbles step 2v + 1, after per-row scales:
//   Q4_K: d, dmin (16 f16 each); sc[k][r] (8 x 16 bytes); m as int16 pairs, vector j lane r
//         = (m[2j][r], m[2j+1][r]) (4 x 64 bytes); the 32 code vectors (u = q)       2496 bytes
//   Q5_K: as Q4_K, then 64 masks of bit 4 of each step's codes                       3008 bytes
//   Q6_K: d (16 f16); sc[k][r] (16 x 16 int8); the 32 code vectors of u = q + 32's low
//         nibbles; 64 masks of bit 4 of each step, then 64 of bit 5                  3360 bytes
//   Q3_K: the Q6_K layout, with u = q + 32 and the scales - 32 (its codes and scales are
//         Q6_K's with fewer bits used)                                           3360 bytes
//   IQ4_XS: d (16 f16); sc[k][r] = ls - 32 (8 x 16 int8); the 32 code vectors of the level
//         indices (low nibbles step 2v, high nibbles step 2v + 1)                    2208 bytes
//   IQ3_S: d (16 f16); sc[k][r] = 2 ls + 1 (8 x 16 int8); the 32 code vectors of u = q + 16
//         (its signed grid magnitudes, in [1, 31]), then 64 masks of bit 4         2720 bytes
// (Q6_K exactly its file bytes, Q4_K, Q5_K and IQ4_XS 8%, 7% and 1.5% more for the widened
// scales and mins, Q3_K 91% more for the Q6_K layout, IQ3_S 55% more for codes without grid.)
//
// IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and Q2_K are not packed at load: their magnitudes are grid
// look-ups (or 2-bit fields), so a lasting copy of their codes would be about 3.7 times their
// bytes, against decode's bandwidth and the RSS. A multi-token matmul instead decodes each
// 16-row group once per call into a per-thread scratch ("transient" layout, transient_pack())
// and multiplies all tokens there (KernelTable::transient_rows). A super-block of it is
//   d: 16 f32, the rows' scales with ggml's final power of two folded in (IQ2_*: x 1/8,
//      IQ3_XXS: x 1/4; exact, so the float result is ggml's)                          64 bytes
//   Q2_K: dmin (16 f32)                                                               64 bytes
//   sc[k][r]: the int8 scale of 16-element sub-block k of row r (IQ: 2 ls + 1, repeated
//      for both halves where the format has one per 32; Q2_K: sc & 15)    16 x 16 = 256 bytes
//   Q2_K: the mins as Q4_K's int16 pairs, vector j lane r = (m[2j][r], m[2j+1][r])   8 x 64
//   64 step vectors of the unsigned codes u = q + 64 (every q is in [-62, 62])     4096 bytes
// 4416 bytes, Q2_K 4992; offsets in kTransientIq / kTransientQ2K.
#pragma once

#include "format/tensor_type.hpp"

#include <cstddef>
#include <cstdint>

namespace qwen::kernels {

constexpr size_t kPackRows = 16;

// True if pack_rows() has a layout for this type and shape.
bool packable(TensorType type, size_t rows, size_t cols);

// The activation format of the packed kernel for weights of `type`: Q8_0, or Q8_K for the
// K-quants.
TensorType packed_act_type(TensorType type);

// Bytes of one packed block (16 rows) of `type`, and of a whole packable matrix.
size_t packed_block_bytes(TensorType type);
size_t packed_matrix_bytes(TensorType type, size_t rows, size_t cols);

// Packs rows [16 g0, 16 g1) of the GGUF rows at src (row_bytes apart) into dst, which holds
// the whole packed matrix (its bytes for those groups are written, nothing else).
void pack_groups(TensorType type, const uint8_t* src, size_t row_bytes, size_t cols, size_t g0, size_t g1,
                 uint8_t* dst);

// BF16 matrices for AMX-BF16 tiles (x86/bf16_amx.cpp; packed only where the kernel table has
// bf16_tiles): rows a multiple of 16, cols of 32. Group g (rows 16 g .. 16 g + 15) is cols / 32
// tiles of 1 KiB, tile k holding columns 32 k .. 32 k + 31 in AMX's pair layout: 32-bit word
// 16 i + r = row r's columns 32 k + 2 i and + 1 (a 16 x 16 transpose of bf16 pairs). Groups go
// in pairs whose tiles alternate (g's tile k, g + 1's tile k, g's tile k + 1, ...), so a pair
// is one sequential stream, and a last group without a partner follows alone. Exactly the
// matrix's bytes.
inline constexpr size_t kBf16TileCols = 32, kBf16TileBytes = 1024;  // one tile's columns and bytes
bool bf16_tiles_packable(size_t rows, size_t cols);
// Byte offset of group g's first tile, and the step to its next one (1 or 2 KiB).
size_t bf16_tile_offset(size_t rows, size_t cols, size_t g, size_t& stride);
// Packs groups [g0, g1) of the stored bf16 rows at src (row_bytes apart) into dst.
void pack_bf16_tiles(const uint8_t* src, size_t row_bytes, size_t rows, size_t cols, size_t g0, size_t g1,
                     uint8_t* dst);

// Byte offsets in a transient super-block (mins: 0 if none).
struct TransientLayout {
    size_t sc, mins, codes, bytes;
};
inline constexpr TransientLayout kTransientIq{64, 0, 320, 4416}, kTransientQ2K{128, 384, 896, 4992};

// True if transient_pack() has a layout for this type and `cols` (whole super-blocks).
bool transient_packable(TensorType type, size_t cols);

// Bytes of one transient super-block of `type` (16 rows), 0 if it has no transient layout.
size_t transient_block_bytes(TensorType type);

// Decodes the 16 GGUF rows at src (row_bytes apart, `cols` columns) into dst, which holds
// cols / 256 transient super-blocks.
void transient_pack(TensorType type, const uint8_t* src, size_t row_bytes, size_t cols, uint8_t* dst);

// One row's super-block as the transient layout takes it: d (and dmin), the 16 sub-block
// scales (and mins), and the 256 codes as q + 64, byte j of u[i] being element 8 i + j. For
// IQ2_XXS, IQ2_XS, IQ2_S and IQ3_XXS (the portable kernels decode those formats with it too),
// and Q2_K; `block` is one GGUF block of `type`.
struct TransientRow {
    float d = 0, dmin = 0;
    int8_t sc[16] = {}, mn[16] = {};
    uint64_t u[32];
};
void transient_decode(TensorType type, const uint8_t* block, TransientRow& row);

// This thread's scratch for transient_pack(): at least `bytes`, 64-byte aligned, kept across
// calls (here rather than in the ISA kernels, which may not instantiate shared templates).
uint8_t* transient_scratch(size_t bytes);

}  // namespace qwen::kernels
