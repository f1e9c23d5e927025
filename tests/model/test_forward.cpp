#include "core/cpu.hpp"
#include "core/error.hpp"
#include "format/gguf.hpp"
#include "format/gguf_source.hpp"
#include "kernels/dispatch.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "naive_qwen2.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

using namespace qwen;

namespace {

struct TinyModel {
    SynthSpec spec;
    std::vector<SynthTensor> weights;
    std::unique_ptr<Model> model;
};

// The tiny synthetic model with a smaller vocabulary (the forward pass does not care), in
// the given weight type, loaded through the GGUF path.
TinyModel make_tiny(TensorType dtype, bool tied = true) {
    TinyModel m;
    m.spec = synth_spec("tiny");
    m.spec.hparams.n_vocab = 512;
    m.spec.dtype = dtype;
    m.spec.tied = tied;
    m.weights = synth_weights(m.spec);
    // One file per process: ctest runs this binary several times at once (one per ISA).
    std::string path = std::string(QWEN_BINARY_DIR) + "/test_forward_" + std::string(tensor_type_name(dtype)) +
                       (tied ? "" : "_untied") + "_" + std::to_string(::getpid()) + ".gguf";
    synth_gguf_writer(m.spec, m.weights).write(path);
    m.model = std::make_unique<Model>(open_gguf_source(std::make_shared<const GgufFile>(path)));
    std::remove(path.c_str());  // the mapping keeps the data
    return m;
}

double max_rel_err(const float* got, const naive::Vec& want) {
    double scale = 0, err = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, std::abs(want[i]));
        err = std::max(err, std::abs(double(got[i]) - want[i]));
    }
    return err / scale;
}

const std::vector<int> kTokens = {1, 17, 300, 5, 5, 42, 511, 0, 99, 250, 7, 8, 13, 400, 2, 3, 77};

}  // namespace

TEST_CASE("forward pass matches the double-precision reference (F32 weights, F32 and F16 KV)") {
    INFO("kernel path: " << isa_name(best_isa()));
    for (bool tied : {true, false}) {
        TinyModel m = make_tiny(TensorType::F32, tied);
        auto want = naive::forward(m.spec.hparams, naive::Weights(m.weights), kTokens);
        for (bool kv_f16 : {false, true}) {
            Context ctx(*m.model, ContextParams{64, 2, kv_f16});
            ctx.eval(reinterpret_cast<const int32_t*>(kTokens.data()), kTokens.size(), true);
            REQUIRE(ctx.n_logit_rows() == kTokens.size());
            for (size_t t = 0; t < kTokens.size(); ++t) {
                double err = max_rel_err(ctx.logits() + t * 512, want[t]);
                INFO("tied " << tied << " kv_f16 " << kv_f16 << " position " << t << " rel err " << err);
                // F32 everywhere: float rounding only (~1e-6). F16 KV rounds K and V to 11 bits.
                CHECK(err < (kv_f16 ? 2e-3 : 2e-5));
            }
        }
    }
}

TEST_CASE("F16 and BF16 weights: the forward pass matches the reference on the same rounded values") {
    for (TensorType dt : {TensorType::F16, TensorType::BF16}) {
        TinyModel m = make_tiny(dt);
        // With AVX512_BF16, BF16 weights meet activations rounded to bf16 (kernels/matmul.hpp);
        // the reference rounds its own (double) activations the same way. The two then agree
        // to float rounding until a float and a double activation fall on either side of a
        // bf16 rounding boundary: from there on (through the KV cache) that position and the
        // later ones differ by up to a few 1e-3 (unrounded, every position differs by ~1e-2).
        const bool rounded = dt == TensorType::BF16 && kernels::kernel_table().bf16_rows;
        auto want = naive::forward(m.spec.hparams, naive::Weights(m.weights), kTokens, rounded);
        Context ctx(*m.model, ContextParams{64, 2, false});
        ctx.eval(reinterpret_cast<const int32_t*>(kTokens.data()), kTokens.size(), true);
        size_t exact = 0;
        for (size_t t = 0; t < kTokens.size(); ++t) {
            const double err = max_rel_err(ctx.logits() + t * 512, want[t]);
            INFO(tensor_type_name(dt) << " position " << t << " bf16 activations " << rounded << " rel err " << err);
            CHECK(err < (rounded ? 1e-2 : 2e-5));
            exact += err < 2e-5;
        }
        if (rounded) CHECK(exact >= 4);  // measured: 8 of 17, among them the first 5
    }
}

TEST_CASE("prefill and one-token decode share one code path: identical logits") {
    TinyModel m = make_tiny(TensorType::F16);
    for (bool kv_f16 : {false, true}) {
        Context a(*m.model, ContextParams{64, 2, kv_f16}), b(*m.model, ContextParams{64, 1, kv_f16});
        a.eval(reinterpret_cast<const int32_t*>(kTokens.data()), kTokens.size(), true);
        for (size_t t = 0; t < kTokens.size(); ++t) {
            b.eval(reinterpret_cast<const int32_t*>(&kTokens[t]), 1, false);
            REQUIRE(b.n_logit_rows() == 1);
            // Same arithmetic in the same order, whatever the batch size or thread count.
            CHECK(std::equal(b.logits(), b.logits() + 512, a.logits() + t * 512));
        }
        CHECK(b.n_past() == kTokens.size());
    }
}

TEST_CASE("truncate and re-evaluate gives the same logits; errors leave the context unchanged") {
    TinyModel m = make_tiny(TensorType::F32);
    Context ctx(*m.model, ContextParams{20, 2, true});
    const int32_t* toks = reinterpret_cast<const int32_t*>(kTokens.data());
    ctx.eval(toks, 10, false);
    std::vector<float> first(ctx.logits(), ctx.logits() + 512);
    ctx.eval(toks + 10, 5, false);
    ctx.truncate(9);
    CHECK(ctx.n_past() == 9);
    ctx.eval(toks + 9, 1, false);
    CHECK(std::equal(first.begin(), first.end(), ctx.logits()));

    int32_t bad[] = {1, 512};
    CHECK_THROWS_AS(ctx.eval(bad, 2, false), Error);
    CHECK(ctx.n_past() == 10);
    std::vector<int32_t> many(11, 1);
    try {
        ctx.eval(many.data(), many.size(), false);
        FAIL("context overflow accepted");
    } catch (const Error& e) {
        CHECK(e.status() == QWEN_ERR_CONTEXT_FULL);
    }
    CHECK(ctx.n_past() == 10);
    CHECK_THROWS_AS(ctx.truncate(11), Error);
    ctx.eval(many.data(), 10, false);  // exactly fills the context
    CHECK(ctx.n_past() == 20);
}

TEST_CASE("prompts longer than one batch are split and give the same logits") {
    TinyModel m = make_tiny(TensorType::BF16);
    std::vector<int32_t> toks(Context::kMaxBatch + 37);
    for (size_t i = 0; i < toks.size(); ++i) toks[i] = int32_t((i * 7919) % 512);
    Context a(*m.model, ContextParams{1024, 2, true}), b(*m.model, ContextParams{1024, 2, true});
    a.eval(toks.data(), toks.size(), false);
    b.eval(toks.data(), 300, false);
    b.eval(toks.data() + 300, toks.size() - 300, false);
    CHECK(std::equal(a.logits(), a.logits() + 512, b.logits()));
}

TEST_CASE("a mapped file's matrices are read from memory of the model's own, with the same results") {
    // Decode streams every weight once a token: from the file mapping (4 KiB pages) it ran
    // slower than from the model's copy in huge pages, so no matrix may stay in the mapping
    // (the packed formats never did). A file read into memory is its own buffer (huge pages
    // too): nothing is copied from it, and only the matrices packed on this CPU (BF16 where it
    // has AMX tiles) leave it.
    for (TensorType dt : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
        SynthSpec spec = synth_spec("tiny");
        spec.hparams.n_vocab = 512;
        spec.dtype = dt;
        const auto weights = synth_weights(spec);
        const std::string path = std::string(QWEN_BINARY_DIR) + "/test_forward_resident_" +
                                 std::string(tensor_type_name(dt)) + "_" + std::to_string(::getpid()) + ".gguf";
        synth_gguf_writer(spec, weights).write(path);
        std::vector<float> logits[2];
        for (bool use_mmap : {true, false}) {
            INFO(tensor_type_name(dt) << (use_mmap ? " mapped" : " read"));
            auto file = std::make_shared<const GgufFile>(path, use_mmap);
            REQUIRE(file->mapped() == use_mmap);
            Model model(open_gguf_source(file));
            const auto in_file = [&](const Matrix& w) { return file->holds(w.packed ? w.packed : w.data); };
            size_t stored = 0, in_mapping = 0;  // matrices not packed; matrices in the file
            for (const LayerWeights& l : model.layers())
                for (const Matrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) {
                    stored += !w->packed;
                    in_mapping += in_file(*w);
                }
            CHECK(in_mapping == (use_mmap ? 0 : stored));
            CHECK(in_file(model.output()) == (!use_mmap && !model.output().packed));
            CHECK(in_file(model.token_embd()));  // looked up a row at a time, from the file
            Context ctx(model, ContextParams{64, 2, false});
            ctx.eval(reinterpret_cast<const int32_t*>(kTokens.data()), kTokens.size(), true);
            logits[use_mmap].assign(ctx.logits(), ctx.logits() + kTokens.size() * 512);
        }
        std::remove(path.c_str());
        CHECK(logits[0] == logits[1]);
    }
}
