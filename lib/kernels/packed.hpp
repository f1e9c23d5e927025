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
// Layout of a packed matrix (rows a multiple of 16, cols of 32): groups of 16 rows one after
// the other; in a group, blocks b = 0 .. cols/32 - 1 one after the other; a block is
//   16 f16 scales d (row r of the group at index r)                           32 bytes
//   the codes of the 16 rows, as 4-byte chunks: chunk j of row r at 64 j + 4 r
//     Q8_0:          8 chunks of 4 codes, each stored as code ^ 0x80 (unsigned q + 128)
//     Q4_0 IQ4_NL:   4 chunks of 4 bytes, the file's own qs bytes 4j .. 4j+3, whose low
//     Q5_0:          nibbles are codes 4j .. 4j+3 and high nibbles codes 16+4j .. 16+4j+3
//   Q5_0 only: 8 little-endian 64-bit masks, mask s bit 4r+i = bit 4 of code 4s+i of row r
// so a block takes exactly the 16 rows' bytes in the file (18, 22 or 34 per row per block)
// and the packed copy replaces them byte for byte in memory use.
//
// Every code is unsigned in the packed form (Q4_0 and Q5_0 as stored; Q8_0 offset by 128;
// IQ4_NL's codebook entries offset by 128 in the kernel's lookup table): vpdpbusd multiplies
// unsigned weight bytes by signed activation bytes, and the offset comes back exactly as
// -offset * (the activation block's code sum), which the activation quantizer provides.
#pragma once

#include "format/tensor_type.hpp"

#include <cstddef>
#include <cstdint>

namespace qwen::kernels {

constexpr size_t kPackRows = 16;

// True if pack_rows() has a layout for this type and shape.
bool packable(TensorType type, size_t rows, size_t cols);

// The offset added to each code in the packed form (see above), as a power of two.
int packed_offset_log2(TensorType type);

// Packs rows [16 g0, 16 g1) of the GGUF rows at src (row_bytes apart) into dst, which holds
// the whole packed matrix (its bytes for those groups are written, nothing else).
void pack_groups(TensorType type, const uint8_t* src, size_t row_bytes, size_t cols, size_t g0, size_t g1,
                 uint8_t* dst);

}  // namespace qwen::kernels
