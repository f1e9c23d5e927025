// The AMX tile configuration (palette 1) of the AMX kernels, which are compiled with
// -mamx-tile and run only where core/cpu.cpp found the tiles usable.
#pragma once

#include <cstdint>
#include <immintrin.h>

namespace qwen::kernels::amx {

struct TileConfig {
    uint8_t palette = 1, start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};  // bytes of each row of tile t
    uint8_t rows[16] = {};
};

// ldtilecfg from c. GCC may drop the stores that fill a local TileConfig, as if ldtilecfg
// did not read them (a test program at -O2 kept only the palette byte: ldtilecfg of zero
// rows, then a general protection fault); the empty asm that takes c's address and
// clobbers memory keeps them.
static inline void load_tile_config(const TileConfig& c) {
    __asm__ __volatile__("" : : "r"(&c) : "memory");
    _tile_loadconfig(&c);
}

}  // namespace qwen::kernels::amx
