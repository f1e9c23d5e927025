// The quantized paths of kernels/matmul and models with quantized weights. The formats
// without an integer-dot kernel are defined as "dequantize, then compute in float", so they
// must give bit for bit what the dense F32 path gives on the dequantized values; the others
// agree with it to the 8-bit rounding of the activations.

#include "core/error.hpp"
#include "core/half.hpp"
#include "format/gguf.hpp"
#include "format/gguf_source.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/matmul.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "quant/blocks.hpp"
#include "quant_test_util.hpp"
#include "synth/synth_model.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

using namespace qwen;
using namespace qwen::quant;
using namespace qwen::quant::test;

namespace {

void set_f16(std::vector<uint8_t>& bytes, size_t at, float v) {
    const uint16_t h = f32_to_f16(v);
    std::memcpy(&bytes[at], &h, 2);
}

// Random codes with finite scales of order 1e-2, for the formats we cannot quantize to (the
// IQ2/IQ3 grids, Q2_K, Q3_K): `n_blocks` blocks of `type`.
std::vector<uint8_t> random_blocks(TensorType type, size_t n_blocks, uint64_t seed) {
    const size_t size = tensor_type_info(type).block_bytes;
    std::vector<uint8_t> b(n_blocks * size);
    std::mt19937_64 gen(seed);
    for (auto& v : b) v = uint8_t(gen());
    for (size_t i = 0; i < n_blocks; ++i) {
        const size_t at = i * size;
        const float d = 0.01f + 0.01f * float(gen() % 100) / 100.0f;
        switch (type) {
        case TensorType::Q2_K:
            set_f16(b, at + offsetof(BlockQ2_K, d), d);
            set_f16(b, at + offsetof(BlockQ2_K, dmin), d / 2);
            break;
        case TensorType::Q3_K: set_f16(b, at + offsetof(BlockQ3_K, d), d); break;
        default: set_f16(b, at, d); break;  // the IQ2/IQ3 blocks start with d
        }
    }
    return b;
}

// The same weights twice: as `type` and as F32 holding exactly the dequantized values.
struct TwinMatrices {
    std::vector<uint8_t> quantized;
    std::vector<float> decoded;
};

TwinMatrices twin(TensorType type, size_t rows, size_t cols, uint64_t seed) {
    TwinMatrices m;
    if (can_quantize(type)) {
        for (size_t r = 0; r < rows; ++r) {
            const auto q = quantize(type, gaussian(cols, seed + r, 0.05f));
            m.quantized.insert(m.quantized.end(), q.begin(), q.end());
        }
    } else {
        m.quantized = random_blocks(type, rows * cols / tensor_type_info(type).block_elems, seed);
    }
    m.decoded = dequantize(type, m.quantized);
    return m;
}

}  // namespace

TEST_CASE("every quantized type multiplies exactly like F32 on its dequantized values") {
    const TensorType types[] = {TensorType::Q4_0,   TensorType::Q4_1,    TensorType::Q5_0,   TensorType::Q5_1,
                                TensorType::Q8_0,   TensorType::IQ4_NL,  TensorType::Q2_K,   TensorType::Q3_K,
                                TensorType::Q4_K,   TensorType::Q5_K,    TensorType::Q6_K,   TensorType::IQ4_XS,
                                TensorType::IQ2_XXS, TensorType::IQ2_XS, TensorType::IQ2_S,  TensorType::IQ3_XXS,
                                TensorType::IQ3_S,  TensorType::Q8_K,    TensorType::Q8_1};
    const size_t rows = 37, cols = 512;  // rows: not a multiple of the 16-row chunk or the 4-row tile
    for (TensorType t : types) {
        INFO(tensor_type_name(t));
        REQUIRE(matmul_supports(t));
        const TwinMatrices m = twin(t, rows, cols, 100);
        const Matrix wq{t, m.quantized.data(), rows, cols, *tensor_row_bytes(t, cols)};
        const Matrix wf{TensorType::F32, reinterpret_cast<const uint8_t*>(m.decoded.data()), rows, cols, cols * 4};
        for (size_t n_tok : {1, 3, 9}) {
            const auto x = gaussian(n_tok * cols, 9);
            std::vector<float> yq(n_tok * rows), yf(n_tok * rows);
            matmul(wq, x.data(), cols, n_tok, yq.data(), rows);
            matmul(wf, x.data(), cols, n_tok, yf.data(), rows);
            // Types with an integer-dot kernel round the activations to 8 bits first, as
            // ggml does (tests/kernels checks those kernels exactly): within that rounding.
            if (kernels::quant_act_type(t) != TensorType::F32) {
                CHECK(rel_rmse(yf, yq) < 1.5e-2);  // measured 0.5-0.7%
            } else {
                CHECK(yq == yf);
            }
        }
        std::vector<float> row(cols);
        dequantize_row(wq, 5, row.data());
        CHECK(std::equal(row.begin(), row.end(), m.decoded.begin() + 5 * cols));
    }
    CHECK_FALSE(matmul_supports(TensorType::IQ1_S));
}

namespace {

// The tiny synthetic model widened to 256 so that every matrix can take a K-quant.
SynthSpec wide_tiny() {
    SynthSpec s = synth_spec("tiny");
    s.hparams.n_vocab = 512;
    s.hparams.n_embd = 256;
    s.hparams.n_ff = 512;
    s.hparams.head_dim = s.hparams.n_embd / s.hparams.n_head;
    return s;
}

// Writes the synthetic weights with each matrix in the type `pick` gives it (vectors stay
// F32), once as such and once as F32 holding the dequantized values; returns both paths.
std::pair<std::string, std::string> write_twins(const SynthSpec& spec, const std::string& tag,
                                                const std::function<TensorType(const std::string&)>& pick) {
    const auto weights = synth_weights(spec);
    GgufWriter quantized = synth_gguf_writer(spec, {}), decoded = synth_gguf_writer(spec, {});
    for (const SynthTensor& t : weights) {
        const TensorType type = t.dims.size() == 2 ? pick(t.name) : TensorType::F32;
        const auto q = quantize(type, t.values);
        const auto d = dequantize(type, q);
        quantized.add_tensor(t.name, type, t.dims, q.data(), q.size());
        decoded.add_tensor(t.name, TensorType::F32, t.dims, d.data(), d.size() * 4);
    }
    // One name per process: ctest runs this binary under several QWEN_ISA values at once.
    const std::string base = std::string(QWEN_BINARY_DIR) + "/test_quant_" + tag + "_" + std::to_string(getpid());
    quantized.write(base + ".gguf");
    decoded.write(base + "_decoded.gguf");
    return {base + ".gguf", base + "_decoded.gguf"};
}

std::vector<float> logits(const std::string& path, const std::vector<int32_t>& tokens) {
    Model model(open_gguf_source(std::make_shared<const GgufFile>(path)));
    Context ctx(model, ContextParams{64, 2, false});
    ctx.eval(tokens.data(), tokens.size(), true);
    return {ctx.logits(), ctx.logits() + tokens.size() * model.hparams().n_vocab};
}

}  // namespace

TEST_CASE("models with quantized weights load and compute exactly on the dequantized values") {
    const SynthSpec spec = wide_tiny();
    const std::vector<int32_t> tokens = {1, 17, 300, 5, 42, 511, 0, 99, 250};
    // A Qwen2.5 "Q4_K_M" file's mix: Q8_0 embeddings (also the LM head), Q5_0 projections,
    // Q4_K / Q6_K ffn_down; then one model per remaining family.
    const std::map<std::string, std::function<TensorType(const std::string&)>> mixes = {
        {"q4_k_m_mix",
         [](const std::string& n) {
             if (n == "token_embd.weight") return TensorType::Q8_0;
             if (n.find("ffn_down") != std::string::npos)
                 return n.find("blk.0.") == 0 ? TensorType::Q6_K : TensorType::Q4_K;
             return TensorType::Q5_0;
         }},
        {"legacy_mix",
         [](const std::string& n) {
             if (n.find("attn") != std::string::npos) return TensorType::Q4_0;
             if (n.find("ffn_up") != std::string::npos) return TensorType::Q5_1;
             return n == "token_embd.weight" ? TensorType::Q8_0 : TensorType::Q4_1;
         }},
        {"iq4",
         [](const std::string& n) {
             return n.find("ffn") != std::string::npos ? TensorType::IQ4_XS : TensorType::IQ4_NL;
         }},
        {"q5_k", [](const std::string&) { return TensorType::Q5_K; }},
        {"iq4_xs", [](const std::string&) { return TensorType::IQ4_XS; }},
    };
    for (const auto& [tag, pick] : mixes) {
        INFO(tag);
        const auto [quantized, decoded] = write_twins(spec, tag, pick);
        const auto a = logits(quantized, tokens), b = logits(decoded, tokens);
        // Every one of these formats has an integer-dot kernel, which rounds the activations
        // to 8 bits as ggml does (measured 1.6-2.2% over the tiny model's layers); the twin
        // with the decoded weights in F32 is multiplied in float.
        CHECK(a != b);
        CHECK(rel_rmse(b, a) < 5e-2);
        std::filesystem::remove(quantized);
        std::filesystem::remove(decoded);
    }
}

TEST_CASE("an unsupported matrix type is reported, naming the tensor") {
    const SynthSpec spec = wide_tiny();
    GgufWriter w = synth_gguf_writer(spec, {});
    for (const SynthTensor& t : synth_weights(spec)) {
        // IQ1_S blocks with arbitrary codes: the loader must refuse before reading them.
        const bool iq1 = t.name == "blk.1.ffn_up.weight";
        const TensorType type = iq1 ? TensorType::IQ1_S : TensorType::F32;
        const std::vector<uint8_t> bytes(*tensor_row_bytes(type, t.values.size()), 0);
        if (iq1)
            w.add_tensor(t.name, type, t.dims, bytes.data(), bytes.size());
        else
            w.add_tensor(t.name, type, t.dims, t.values.data(), t.values.size() * 4);
    }
    const std::string path = std::string(QWEN_BINARY_DIR) + "/test_quant_iq1s_" + std::to_string(getpid()) + ".gguf";
    w.write(path);
    try {
        Model model(open_gguf_source(std::make_shared<const GgufFile>(path)));
        FAIL("an IQ1_S matrix was accepted");
    } catch (const Error& e) {
        CHECK(e.status() == QWEN_ERR_UNSUPPORTED);
        CHECK(std::string(e.what()).find("blk.1.ffn_up.weight") != std::string::npos);
        CHECK(std::string(e.what()).find("iq1_s") != std::string::npos);
    }
    std::filesystem::remove(path);
}
