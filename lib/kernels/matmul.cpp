#include "kernels/matmul.hpp"

#include "core/aligned_buffer.hpp"
#include "core/half.hpp"
#include "core/team.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/packed.hpp"
#include "quant/blocks.hpp"
#include "quant/dequantize.hpp"
#include "quant/quantize.hpp"

#include <algorithm>
#include <cstring>
#include <omp.h>
#include <vector>

namespace qwen {

namespace {

// Rows go to threads in chunks of 16: a multiple of the 4-row tile, small enough that even
// the 896-row projections split evenly over many threads.
constexpr size_t kChunk = 16;

// Prompts through the dense kernels take chunks of 64 rows where every thread still gets at
// least 4: each call streams all the tokens' activations once (10 MB of ffn_down's input at
// 512 tokens), so 16-row chunks read them 56 times a matrix. qwen bench -p 512 on
// full-f16-s1, one build, 2 threads of an AMX Xeon (~14 GB/s a core), alternating: 16 rows
// 231-238 tok/s, 32 243, 64 258-261, 128 245 (896 rows in 7 chunks: one thread has 4).
constexpr size_t kDensePromptChunk = 64;
size_t dense_chunk(size_t rows, size_t n_tok) {
    const size_t nth = size_t(omp_get_num_threads());
    return n_tok > 1 && rows >= 4 * kDensePromptChunk * nth ? kDensePromptChunk : kChunk;
}

// The correct-but-slow path for every weight type neither the dense SIMD kernels nor the
// integer-dot kernels take (the block formats without a kernel, and dense rows that are not
// a whole number of vectors): rows [r0, r1) are decoded by the reference dequantizer into a
// per-thread float tile, which the dense F32 kernel (or a plain loop) multiplies with the
// activations, exactly in float on ggml's decoded values.
void decoded_rows(const Matrix& w, size_t r0, size_t r1, const float* x, size_t ldx, size_t n_tok, float* y,
                  size_t ldy, const kernels::KernelTable* simd) {
    // One tile per thread, kept across calls (16 rows of 4864 floats is 304 KiB).
    thread_local AlignedBuffer<float> tile;
    const size_t n = r1 - r0;
    if (tile.size() < kChunk * w.cols) tile.resize(kChunk * w.cols);
    for (size_t r = r0; r < r1; ++r)
        quant::dequantize_row(w.type, w.data + r * w.row_bytes, tile.data() + (r - r0) * w.cols, w.cols);
    if (simd) {
        simd->dense_rows(TensorType::F32, reinterpret_cast<const uint8_t*>(tile.data()), w.cols * sizeof(float),
                         w.cols, 0, n, x, ldx, n_tok, y + r0, ldy);
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        const float* row = tile.data() + i * w.cols;
        for (size_t t = 0; t < n_tok; ++t) {
            float acc = 0.0f;
            for (size_t c = 0; c < w.cols; ++c) acc += row[c] * x[t * ldx + c];
            y[t * ldy + r0 + i] = acc;
        }
    }
}

// Scratch of the activation quantization, one per thread; a call of several tokens uses the
// one of the thread that ran its team_single (prepare_tokens), which all threads of the team
// then read, a call of one token each thread's own.
struct ActBuffers {
    AlignedBuffer<int8_t> q;
    AlignedBuffer<float> d;
    AlignedBuffer<int16_t> bsums;
    AlignedBuffer<int32_t> sums;
};

// Token t of x as ggml's bytes (quant::quantize_row), unpacked into the kernels' layout: by
// the vector quantizer of the kernel table, or the reference one for the rows it declines.
void quantize_token(TensorType act, const float* x, size_t cols, ActBuffers& out, size_t t) {
    const size_t nb = cols / (act == TensorType::Q8_K ? quant::kQK_K : quant::kQK);
    float* d = out.d.data() + t * nb;
    if (kernels::kernel_table().quantize_act(
            act, x, cols, out.q.data() + t * cols, d,
            act == TensorType::Q8_K ? out.bsums.data() + t * (cols / 16) : nullptr,
            act == TensorType::Q8_0 ? out.sums.data() + t * nb : nullptr)) {
        if (act == TensorType::Q8_0)
            for (size_t b = 0; b < nb; ++b) d[b] = f16_to_f32(f32_to_f16(d[b]));  // as the block stores it
        return;
    }
    thread_local std::vector<uint8_t> blocks;
    blocks.resize(*tensor_row_bytes(act, cols));
    quant::quantize_row(act, x, blocks.data(), cols);
    int8_t* q = out.q.data() + t * cols;
    for (size_t b = 0; b < nb; ++b) {
        if (act == TensorType::Q8_K) {
            quant::BlockQ8_K blk;
            std::memcpy(&blk, blocks.data() + b * sizeof blk, sizeof blk);
            d[b] = blk.d;
            std::memcpy(q + b * quant::kQK_K, blk.qs, sizeof blk.qs);
            std::memcpy(out.bsums.data() + (t * nb + b) * 16, blk.bsums, sizeof blk.bsums);
        } else {
            quant::BlockQ8_0 blk;
            std::memcpy(&blk, blocks.data() + b * sizeof blk, sizeof blk);
            d[b] = f16_to_f32(blk.d);
            std::memcpy(q + b * quant::kQK, blk.qs, sizeof blk.qs);
            int32_t sum = 0;
            for (int8_t c : blk.qs) sum += c;
            out.sums.data()[t * nb + b] = sum;
        }
    }
}

// Prepares the n_tok activation rows for the team's multiplication: `size(buf)` sizes a
// thread's buffers (a Buf), `token(buf, t)` fills token t. A single token (decode) is done by
// every thread into its own buffers: the same bytes on each (the same code on the same
// input), a few hundred nanoseconds of vector work, and no barrier to publish them (a decode
// step had one after each of its 97 activation quantizations). Several tokens go into the
// buffers of the thread that runs team_single, split among the threads, and a barrier after
// that loop publishes them before any thread multiplies. Outside a parallel region the
// calling thread does it all.
template <class Buf, class Size, class Token>
Buf* prepare_tokens(size_t n_tok, Size&& size, Token&& token) {
    thread_local Buf mine;
    if (n_tok == 1) {
        // The previous step ended at a barrier, after which no thread reads another's buffers.
        size(mine);
        token(mine, 0);
        return &mine;
    }
    Buf* shared = team_single<Buf>([&] {
        size(mine);
        return &mine;
    });
#pragma omp for schedule(static) nowait
    for (long t = 0; t < long(n_tok); ++t) token(*shared, size_t(t));
    team_barrier();
    return shared;
}

// The activations quantized to ggml's Q8_0 or Q8_K codes for the integer-dot kernels.
kernels::QuantActs quantize_acts(TensorType act, const float* x, size_t ldx, size_t n_tok, size_t cols) {
    const size_t block = act == TensorType::Q8_K ? quant::kQK_K : quant::kQK;
    const ActBuffers* b = prepare_tokens<ActBuffers>(
        n_tok,
        [&](ActBuffers& m) {
            if (m.q.size() < n_tok * cols) m.q.resize(n_tok * cols);
            if (m.d.size() < n_tok * cols / block) m.d.resize(n_tok * cols / block);
            if (act == TensorType::Q8_K && m.bsums.size() < n_tok * cols / 16) m.bsums.resize(n_tok * cols / 16);
            if (act == TensorType::Q8_0 && m.sums.size() < n_tok * cols / block) m.sums.resize(n_tok * cols / block);
        },
        [&](ActBuffers& m, size_t t) { quantize_token(act, x + t * ldx, cols, m, t); });
    return {act, b->q.data(), b->d.data(), act == TensorType::Q8_K ? b->bsums.data() : nullptr, cols,
            act == TensorType::Q8_0 ? b->sums.data() : nullptr};
}

// BF16 weights on a CPU with AVX512_BF16 whose rows are whole vectors of bf16 pairs: the
// activations are rounded to bf16 (ggml's rounding) and multiplied by vdpbf16ps, as llama.cpp
// does; elsewhere they take the dense kernels, widened to float.
bool takes_bf16_kernel(const Matrix& w, const kernels::KernelTable& k) {
    return w.type == TensorType::BF16 && k.bf16_rows && !w.packed && w.cols % kernels::kBf16Cols == 0;
}

// BF16 weights packed at load for AMX tiles (only where the table has them), same rounding.
bool takes_bf16_tiles(const Matrix& w) { return w.type == TensorType::BF16 && w.packed; }

// The activations rounded to bf16 once for the whole team: token t at [t * cols].
const uint16_t* round_acts_bf16(kernels::RoundBf16Fn round, const float* x, size_t ldx, size_t n_tok, size_t cols) {
    using Buf = AlignedBuffer<uint16_t>;
    return prepare_tokens<Buf>(
               n_tok, [&](Buf& m) { if (m.size() < n_tok * cols) m.resize(n_tok * cols); },
               [&](Buf& m, size_t t) { round(x + t * ldx, m.data() + t * cols, cols); })
        ->data();
}

// Matrices sharing one input already rounded by round_acts_bf16: their 16-row chunks, taken
// as one list, shared among the team, then one barrier.
void bf16_products(const MatmulOut* outs, size_t n, const uint16_t* xb, size_t n_tok) {
    const kernels::KernelTable& k = kernels::kernel_table();
    long total = 0;
    for (size_t i = 0; i < n; ++i) total += long((outs[i].w->rows + kChunk - 1) / kChunk);
#pragma omp for schedule(static) nowait
    for (long c = 0; c < total; ++c) {
        size_t i = 0, chunk = size_t(c);
        while (chunk * kChunk >= outs[i].w->rows) chunk -= (outs[i++].w->rows + kChunk - 1) / kChunk;
        const Matrix& w = *outs[i].w;
        const size_t r0 = chunk * kChunk, r1 = std::min(r0 + kChunk, w.rows);
        k.bf16_rows(w.data, w.row_bytes, w.cols, r0, r1, xb, w.cols, n_tok, outs[i].y, outs[i].ldy);
    }
    team_barrier();
}

}  // namespace

size_t packed_bytes(const Matrix& w) {
    if (w.type == TensorType::BF16)
        return kernels::kernel_table().bf16_tiles && kernels::bf16_tiles_packable(w.rows, w.cols)
                   ? w.rows * w.cols * sizeof(uint16_t)
                   : 0;
    const bool ok = kernels::kernel_table().packed_rows && kernels::packable(w.type, w.rows, w.cols);
    return ok ? kernels::packed_matrix_bytes(w.type, w.rows, w.cols) : 0;
}

size_t resident_bytes(const Matrix& w, bool copy_stored) {
    const size_t packed = packed_bytes(w);
    return packed || !copy_stored ? packed : w.rows * w.row_bytes;
}

void pack_matrices(Matrix* const* ws, uint8_t* const* dsts, size_t n, const PackedSource& packed_source) {
    // Work items of up to 8 groups (128 rows) of one matrix, handed out dynamically: one
    // parallel region for the whole model, and the small matrices (k, v: 8 groups) never
    // leave threads idle.
    constexpr size_t kItemRows = 8 * kernels::kPackRows;
    std::vector<bool> packs(n);
    std::vector<std::pair<size_t, size_t>> items;  // (matrix, first row)
    for (size_t i = 0; i < n; ++i) {
        packs[i] = packed_bytes(*ws[i]) != 0;
        for (size_t r = 0; r < ws[i]->rows; r += kItemRows) items.emplace_back(i, r);
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (long it = 0; it < long(items.size()); ++it) {
        const auto [i, row0] = items[size_t(it)];
        const Matrix& w = *ws[i];
        const size_t rows = std::min(kItemRows, w.rows - row0);
        const size_t g0 = row0 / kernels::kPackRows, g1 = (row0 + rows) / kernels::kPackRows;
        if (packs[i] && w.type == TensorType::BF16)  // packable: rows is a multiple of 16
            kernels::pack_bf16_tiles(w.data, w.row_bytes, w.rows, w.cols, g0, g1, dsts[i]);
        else if (packs[i])
            kernels::pack_groups(w.type, w.data, w.row_bytes, w.cols, g0, g1, dsts[i]);
        else
            std::memcpy(dsts[i] + row0 * w.row_bytes, w.data + row0 * w.row_bytes, rows * w.row_bytes);
        if (packed_source) packed_source(w.data + row0 * w.row_bytes, rows * w.row_bytes);
    }
    for (size_t i = 0; i < n; ++i) (packs[i] ? ws[i]->packed : ws[i]->data) = dsts[i];
}

void pack_matrix(Matrix& w, uint8_t* dst) {
    Matrix* ws[] = {&w};
    uint8_t* dsts[] = {dst};
    pack_matrices(ws, dsts, 1, {});
}

bool matmul_supports(TensorType type) { return quant::can_dequantize(type); }

namespace {

// The activation format w's kernel takes (F32: none, the rows are multiplied in float).
TensorType act_type(const Matrix& w) {
    return w.packed && !takes_bf16_tiles(w) ? kernels::packed_act_type(w.type) : kernels::quant_act_type(w.type);
}

// From this many tokens on, a low-bit matrix (no packed copy, a transient layout on this CPU)
// is decoded per 16-row group into the 8-bit layout and multiplied there. The stored-row
// kernels decode every weight again for each tile of 4 tokens (x86/quant_impl.hpp's kToks),
// the transient path once per call at about the same cost per code (one grid look-up per 8),
// and its products are vpdpbusd over 16 rows with no horizontal sums: from 8 tokens on it
// does at most half their decoding and less of the rest. Below that (decode is 1 token) the
// rows stay as stored, where the scratch's extra write and read would not pay.
constexpr size_t kTransientMinTokens = 8;

bool takes_transient(const Matrix& w, const kernels::KernelTable& k, size_t n_tok) {
    return !w.packed && k.transient_rows && n_tok >= kTransientMinTokens && kernels::transient_packable(w.type, w.cols);
}

// Whether w goes through the 16-row group kernels: packed at load, or transient.
bool takes_groups(const Matrix& w, const kernels::KernelTable& k, size_t n_tok) {
    return (w.packed && !takes_bf16_tiles(w)) || takes_transient(w, k, n_tok);
}

// The 16-row groups of n matrices, taken as one list and shared among the team in contiguous
// chunks; run(i, g0, g1) multiplies groups [g0, g1) of outs[i]. In a team the
// chunks are claimed as the threads go (TeamBarrier::claim): with equal shares one thread
// waited for the other at the end of most matmuls, on memory or on a core it did not have
// (perf, Q4_K_M decode: 18% of the time in barriers, 6% after). That wait was the price of a
// busy machine: alternating `qwen bench -p 0 -n 128 -s 8` runs of the two builds gave about
// the same tokens/s on a quiet one, and 206 (equal shares) against 421 when another process
// took a core.
template <class Run>
void share_groups(const MatmulOut* outs, size_t n, const Run& run_groups) {
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) total += outs[i].w->rows / kernels::kPackRows;
    // Groups [lo, hi) of the list.
    const auto run = [&](size_t lo, size_t hi) {
        size_t first = 0;  // the first group of outs[i] in the list
        for (size_t i = 0; i < n && first < hi; ++i) {
            const size_t groups = outs[i].w->rows / kernels::kPackRows;
            if (lo < first + groups && hi > first)
                run_groups(i, std::max(lo, first) - first, std::min(hi, first + groups) - first);
            first += groups;
        }
    };
    // Shared in pairs of groups: the AVX-512 prompt tiles and the AMX ones take two groups at a
    // time, and a chunk of an odd count ended in a one-group tile (6% of a Q4_0 prompt's time in
    // them).
    const size_t pairs = (total + 1) / 2;
    const auto run_pairs = [&](size_t lo, size_t hi) { run(2 * lo, std::min(2 * hi, total)); };
    const uint32_t nth = uint32_t(omp_get_num_threads()), tid = uint32_t(omp_get_thread_num());
    if (TeamBarrier* team = team_barrier_of_thread(); team && nth > 1) {
        // Chunks of at least a 64th of a thread's share: a claim is an atomic on a line
        // the other threads write too, so not one per pair.
        const size_t min_chunk = std::max<size_t>(1, pairs / (64 * size_t(nth)));
        for (size_t lo, hi; team->claim(pairs, nth, min_chunk, lo, hi);) run_pairs(lo, hi);
    } else {
        run_pairs(pairs * tid / nth, pairs * (tid + 1) / nth);
    }
}

// Matrices sharing one quantized input, each packed or transient: their groups shared
// (share_groups), then a barrier. Rows after the last whole group (transient matrices only;
// Qwen2.5's have none) take the stored-row kernel on the last thread.
void group_outputs(const MatmulOut* outs, size_t n, const kernels::QuantActs& xq, size_t n_tok) {
    const kernels::KernelTable& k = kernels::kernel_table();
    share_groups(outs, n, [&](size_t i, size_t g0, size_t g1) {
        const Matrix& w = *outs[i].w;
        if (w.packed)
            k.packed_rows(w.type, w.packed, w.cols, g0, g1, xq, n_tok, outs[i].y, outs[i].ldy);
        else
            k.transient_rows(w.type, w.data, w.row_bytes, w.cols, g0, g1, xq, n_tok, outs[i].y, outs[i].ldy);
    });
    if (omp_get_thread_num() + 1 == omp_get_num_threads())
        for (size_t i = 0; i < n; ++i) {
            const Matrix& w = *outs[i].w;
            const size_t rows = w.rows / kernels::kPackRows * kernels::kPackRows;
            if (rows < w.rows)
                k.quant_rows(w.type, w.data, w.row_bytes, rows, w.rows, xq, n_tok, outs[i].y, outs[i].ldy);
        }
    team_barrier();
}

// BF16 matrices packed for the AMX tiles (all their rows in whole groups), sharing one input
// already rounded by round_acts_bf16: their groups shared, then a barrier.
void bf16_tile_outputs(const MatmulOut* outs, size_t n, const uint16_t* xb, size_t n_tok) {
    const kernels::KernelTable& k = kernels::kernel_table();
    share_groups(outs, n, [&](size_t i, size_t g0, size_t g1) {
        const Matrix& w = *outs[i].w;
        k.bf16_tiles(w.packed, w.rows, w.cols, g0, g1, xb, n_tok, outs[i].y, outs[i].ldy);
    });
    team_barrier();
}

}  // namespace

void matmul(const Matrix& w, const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy) {
    const kernels::KernelTable& k = kernels::kernel_table();
    if (takes_bf16_tiles(w)) {
        const MatmulOut out{&w, y, ldy};
        bf16_tile_outputs(&out, 1, round_acts_bf16(k.round_bf16, x, ldx, n_tok, w.cols), n_tok);
        return;
    }
    if (takes_bf16_kernel(w, k)) {
        const MatmulOut out{&w, y, ldy};
        bf16_products(&out, 1, round_acts_bf16(k.round_bf16, x, ldx, n_tok, w.cols), n_tok);
        return;
    }
    const bool simd = w.cols % k.lanes == 0;
    const bool dense = quant::is_dense(w.type);
    const size_t chunk = dense && simd ? dense_chunk(w.rows, n_tok) : kChunk;
    const long n_chunks = long((w.rows + chunk - 1) / chunk);
    const TensorType act = act_type(w);
    const kernels::QuantActs xq = act != TensorType::F32 ? quantize_acts(act, x, ldx, n_tok, w.cols)
                                                         : kernels::QuantActs{};
    if (takes_groups(w, k, n_tok)) {
        const MatmulOut out{&w, y, ldy};
        group_outputs(&out, 1, xq, n_tok);
        return;
    }
#pragma omp for schedule(static) nowait
    for (long c = 0; c < n_chunks; ++c) {
        size_t r0 = size_t(c) * chunk, r1 = r0 + chunk < w.rows ? r0 + chunk : w.rows;
        if (act != TensorType::F32)
            k.quant_rows(w.type, w.data, w.row_bytes, r0, r1, xq, n_tok, y, ldy);
        else if (dense && simd)
            k.dense_rows(w.type, w.data, w.row_bytes, w.cols, r0, r1, x, ldx, n_tok, y, ldy);
        else
            decoded_rows(w, r0, r1, x, ldx, n_tok, y, ldy, simd ? &k : nullptr);
    }
    team_barrier();
}

void matmul_same_input(std::initializer_list<MatmulOut> outs, const float* x, size_t ldx, size_t n_tok) {
    const Matrix& w0 = *outs.begin()->w;
    const kernels::KernelTable& k = kernels::kernel_table();
    bool bf16 = true, tiles = true;  // all on one BF16 kernel: the input is rounded once for all
    for (const MatmulOut& o : outs) {
        bf16 &= takes_bf16_kernel(*o.w, k) && o.w->cols == w0.cols;
        tiles &= takes_bf16_tiles(*o.w) && o.w->cols == w0.cols;
    }
    if (tiles) {
        bf16_tile_outputs(outs.begin(), outs.size(), round_acts_bf16(k.round_bf16, x, ldx, n_tok, w0.cols), n_tok);
        return;
    }
    if (bf16) {
        bf16_products(outs.begin(), outs.size(), round_acts_bf16(k.round_bf16, x, ldx, n_tok, w0.cols), n_tok);
        return;
    }
    const TensorType act = act_type(w0);
    bool shared = true;
    for (const MatmulOut& o : outs)
        shared &= takes_groups(*o.w, k, n_tok) && o.w->cols == w0.cols && act_type(*o.w) == act;
    if (!shared) {
        for (const MatmulOut& o : outs) matmul(*o.w, x, ldx, n_tok, o.y, o.ldy);
        return;
    }
    group_outputs(outs.begin(), outs.size(), quantize_acts(act, x, ldx, n_tok, w0.cols), n_tok);
}

void dequantize_row(const Matrix& w, size_t r, float* out) {
    quant::dequantize_row(w.type, w.data + r * w.row_bytes, out, w.cols);
}

}  // namespace qwen
