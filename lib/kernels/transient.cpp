// The transient 8-bit layout of the low-bit formats (kernels/packed.hpp): 16 GGUF rows decoded
// into one scratch buffer per thread for a multi-token matmul. Portable code, called by the
// ISA kernels that multiply the layout; the decode runs once per call and group, against
// once per token tile on the stored-row kernels, so plain 64-bit arithmetic is enough.
#include "core/aligned_buffer.hpp"
#include "core/half.hpp"
#include "kernels/packed.hpp"
#include "quant/blocks.hpp"
#include "quant/iq_grids.hpp"

#include <cstring>

namespace qwen::kernels {

namespace {

using namespace quant;

constexpr size_t R = kPackRows;
constexpr uint64_t kOffsets = 0x4040404040404040ull;  // 64 in each byte

// 8 grid magnitudes with their signs as unsigned codes q + 64, one per byte: the magnitudes
// (at most 62) are added to or subtracted from 64 without a carry or borrow between bytes.
uint64_t signed_codes(uint64_t grid, uint8_t signs) {
    const uint64_t neg = kSignMasks.lane[signs];
    return kOffsets + (grid & ~neg) - (grid & neg);
}

using Row = TransientRow;

void decode(const BlockIQ2_XXS& b, Row& o) {
    o.d = f16_to_f32(b.d) * 0.125f;
    for (int ib = 0; ib < 8; ++ib) {
        uint8_t idx[4];
        uint32_t meta;
        std::memcpy(idx, &b.qs[4 * ib], 4);
        std::memcpy(&meta, &b.qs[4 * ib + 2], 4);
        o.sc[2 * ib] = o.sc[2 * ib + 1] = int8_t(2 * (meta >> 28) + 1);
        for (int l = 0; l < 4; ++l)
            o.u[4 * ib + l] = signed_codes(kIq2xxsGrid[idx[l]], signs_from_code7((meta >> (7 * l)) & 127));
    }
}

void decode(const BlockIQ2_XS& b, Row& o) {
    o.d = f16_to_f32(b.d) * 0.125f;
    for (int ib = 0; ib < 8; ++ib) {
        o.sc[2 * ib] = int8_t(2 * (b.scales[ib] & 15) + 1);
        o.sc[2 * ib + 1] = int8_t(2 * (b.scales[ib] >> 4) + 1);
        for (int l = 0; l < 4; ++l) {
            const uint16_t code = b.qs[4 * ib + l];
            o.u[4 * ib + l] = signed_codes(kIq2xsGrid[code & 511], signs_from_code7(code >> 9));
        }
    }
}

void decode(const BlockIQ2_S& b, Row& o) {
    o.d = f16_to_f32(b.d) * 0.125f;
    const uint8_t* signs = b.qs + kQK_K / 8;
    for (int ib = 0; ib < 8; ++ib) {
        o.sc[2 * ib] = int8_t(2 * (b.scales[ib] & 15) + 1);
        o.sc[2 * ib + 1] = int8_t(2 * (b.scales[ib] >> 4) + 1);
        for (int l = 0; l < 4; ++l) {
            const unsigned index = b.qs[4 * ib + l] | ((unsigned(b.qh[ib]) << (8 - 2 * l)) & 0x300);
            o.u[4 * ib + l] = signed_codes(kIq2sGrid[index], signs[4 * ib + l]);
        }
    }
}

void decode(const BlockIQ3_XXS& b, Row& o) {
    o.d = f16_to_f32(b.d) * 0.25f;
    for (int ib = 0; ib < 8; ++ib) {
        uint32_t meta;
        std::memcpy(&meta, b.qs + kQK_K / 4 + 4 * ib, 4);
        o.sc[2 * ib] = o.sc[2 * ib + 1] = int8_t(2 * (meta >> 28) + 1);
        const uint8_t* q3 = b.qs + 8 * ib;
        for (int l = 0; l < 4; ++l) {  // two entries of 4 magnitudes share one sign byte
            const uint64_t grid = kIq3xxsGrid[q3[2 * l]] | uint64_t(kIq3xxsGrid[q3[2 * l + 1]]) << 32;
            o.u[4 * ib + l] = signed_codes(grid, signs_from_code7((meta >> (7 * l)) & 127));
        }
    }
}

// Q2_K: element 128 h + 32 s + l is the 2-bit field s of qs[32 h + l], in [0, 3].
void decode(const BlockQ2_K& b, Row& o) {
    o.d = f16_to_f32(b.d);
    o.dmin = f16_to_f32(b.dmin);
    for (int i = 0; i < 16; ++i) {
        o.sc[i] = int8_t(b.scales[i] & 15);
        o.mn[i] = int8_t(b.scales[i] >> 4);
    }
    for (int h = 0; h < 2; ++h)
        for (int j = 0; j < 4; ++j) {
            uint64_t v;
            std::memcpy(&v, b.qs + 32 * h + 8 * j, 8);
            for (int s = 0; s < 4; ++s) o.u[16 * h + 4 * s + j] = kOffsets + ((v >> (2 * s)) & 0x0303030303030303ull);
        }
}

// Row r's super-block into the layout's block at out.
void put(const Row& row, size_t r, const TransientLayout& l, uint8_t* out) {
    std::memcpy(out + 4 * r, &row.d, 4);
    if (l.mins) {
        std::memcpy(out + 64 + 4 * r, &row.dmin, 4);
        for (int j = 0; j < 8; ++j) {
            const int16_t pair[2] = {row.mn[2 * j], row.mn[2 * j + 1]};
            std::memcpy(out + l.mins + 64 * j + 4 * r, pair, 4);
        }
    }
    for (int k = 0; k < 16; ++k) out[l.sc + 16 * k + r] = uint8_t(row.sc[k]);
    const auto* u = reinterpret_cast<const uint8_t*>(row.u);
    for (int s = 0; s < 64; ++s) std::memcpy(out + l.codes + 64 * s + 4 * r, u + 4 * s, 4);
}

// Super-block by super-block, so that the 16 rows' writes stay within one output block.
template <class Block>
void pack(const uint8_t* src, size_t row_bytes, size_t nb, const TransientLayout& l, uint8_t* dst) {
    Row row;
    for (size_t b = 0; b < nb; ++b)
        for (size_t r = 0; r < R; ++r) {
            Block blk;
            std::memcpy(&blk, src + r * row_bytes + b * sizeof blk, sizeof blk);
            decode(blk, row);
            put(row, r, l, dst + b * l.bytes);
        }
}

}  // namespace

bool transient_packable(TensorType type, size_t cols) {
    return transient_block_bytes(type) != 0 && cols > 0 && cols % kQK_K == 0;
}

void transient_decode(TensorType type, const uint8_t* block, TransientRow& row) {
    const auto as = [block]<class B>(B b) {
        std::memcpy(&b, block, sizeof b);
        return b;
    };
    switch (type) {
    case TensorType::IQ2_XXS: decode(as(BlockIQ2_XXS{}), row); break;
    case TensorType::IQ2_XS: decode(as(BlockIQ2_XS{}), row); break;
    case TensorType::IQ2_S: decode(as(BlockIQ2_S{}), row); break;
    case TensorType::IQ3_XXS: decode(as(BlockIQ3_XXS{}), row); break;
    case TensorType::Q2_K: decode(as(BlockQ2_K{}), row); break;
    default: break;
    }
}

size_t transient_block_bytes(TensorType type) {
    switch (type) {
    case TensorType::IQ2_XXS:
    case TensorType::IQ2_XS:
    case TensorType::IQ2_S:
    case TensorType::IQ3_XXS: return kTransientIq.bytes;
    case TensorType::Q2_K: return kTransientQ2K.bytes;
    default: return 0;
    }
}

uint8_t* transient_scratch(size_t bytes) {
    thread_local AlignedBuffer<uint8_t> scratch;
    if (scratch.size() < bytes) scratch.resize(bytes);
    return scratch.data();
}

void transient_pack(TensorType type, const uint8_t* src, size_t row_bytes, size_t cols, uint8_t* dst) {
    const size_t nb = cols / kQK_K;
    switch (type) {
    case TensorType::IQ2_XXS: pack<BlockIQ2_XXS>(src, row_bytes, nb, kTransientIq, dst); break;
    case TensorType::IQ2_XS: pack<BlockIQ2_XS>(src, row_bytes, nb, kTransientIq, dst); break;
    case TensorType::IQ2_S: pack<BlockIQ2_S>(src, row_bytes, nb, kTransientIq, dst); break;
    case TensorType::IQ3_XXS: pack<BlockIQ3_XXS>(src, row_bytes, nb, kTransientIq, dst); break;
    case TensorType::Q2_K: pack<BlockQ2_K>(src, row_bytes, nb, kTransientQ2K, dst); break;
    default: break;
    }
}

}  // namespace qwen::kernels
