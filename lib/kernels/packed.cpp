#include "kernels/packed.hpp"

#include "quant/blocks.hpp"

#include <cstring>

namespace qwen::kernels {

namespace {

// Offsets of the f16 scale, the 4-bit or 8-bit codes and Q5_0's high bits in a file block.
struct FileBlock {
    size_t bytes, qs, qh;
};

bool file_block(TensorType type, FileBlock& fb) {
    using namespace quant;
    switch (type) {
    case TensorType::Q8_0: fb = {sizeof(BlockQ8_0), offsetof(BlockQ8_0, qs), 0}; return true;
    case TensorType::Q4_0: fb = {sizeof(BlockQ4_0), offsetof(BlockQ4_0, qs), 0}; return true;
    case TensorType::IQ4_NL: fb = {sizeof(BlockIQ4_NL), offsetof(BlockIQ4_NL, qs), 0}; return true;
    case TensorType::Q5_0: fb = {sizeof(BlockQ5_0), offsetof(BlockQ5_0, qs), offsetof(BlockQ5_0, qh)}; return true;
    default: return false;
    }
}

}  // namespace

bool packable(TensorType type, size_t rows, size_t cols) {
    FileBlock fb;
    return file_block(type, fb) && rows > 0 && rows % kPackRows == 0 && cols > 0 && cols % quant::kQK == 0;
}

int packed_offset_log2(TensorType type) {
    switch (type) {
    case TensorType::Q4_0: return 3;
    case TensorType::Q5_0: return 4;
    default: return 7;  // Q8_0 and IQ4_NL: 128
    }
}

void pack_groups(TensorType type, const uint8_t* src, size_t row_bytes, size_t cols, size_t g0, size_t g1,
                 uint8_t* dst) {
    FileBlock fb;
    if (!file_block(type, fb)) return;
    const size_t nb = cols / quant::kQK, R = kPackRows;
    for (size_t g = g0; g < g1; ++g)
        for (size_t b = 0; b < nb; ++b) {
            uint8_t* out = dst + g * R * row_bytes + b * R * fb.bytes;
            uint8_t* codes = out + 2 * R;
            uint64_t masks[8] = {};
            for (size_t r = 0; r < R; ++r) {
                const uint8_t* blk = src + (g * R + r) * row_bytes + b * fb.bytes;
                std::memcpy(out + 2 * r, blk, 2);  // d
                if (type == TensorType::Q8_0) {
                    for (size_t j = 0; j < 8; ++j)
                        for (size_t i = 0; i < 4; ++i) codes[64 * j + 4 * r + i] = blk[fb.qs + 4 * j + i] ^ 0x80;
                    continue;
                }
                for (size_t j = 0; j < 4; ++j) std::memcpy(codes + 64 * j + 4 * r, blk + fb.qs + 4 * j, 4);
                if (type == TensorType::Q5_0) {
                    uint32_t qh;
                    std::memcpy(&qh, blk + fb.qh, 4);
                    for (size_t s = 0; s < 8; ++s)
                        masks[s] |= uint64_t((qh >> (4 * s)) & 0xF) << (4 * r);
                }
            }
            if (type == TensorType::Q5_0)
                for (size_t s = 0; s < 8; ++s) std::memcpy(codes + 4 * 64 + 8 * s, &masks[s], 8);
        }
}

}  // namespace qwen::kernels
