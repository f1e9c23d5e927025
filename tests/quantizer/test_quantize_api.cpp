// The quantization C API on a tiny synthetic model: file type names, a successful run with its
// progress events, and every documented error, after which no output file may exist.
// (Parity with llama.cpp's llama-quantize is tests/python/test_quantize_model.py.)
#include <qwen/qwen.h>

#include "format/gguf.hpp"
#include "format/gguf_source.hpp"
#include "model/model.hpp"
#include "quant/quantize.hpp"
#include "synth/synth_model.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace qwen;

namespace {

const std::string kDir = std::string(QWEN_BINARY_DIR) + "/test_quantize_api";

// The tiny synthetic model (F32), with `override_name` stored as `override_type` (its F32
// values quantized, or raw zero bytes for a type without a quantizer).
std::string tiny_model(const std::string& file, const std::string& override_name = "",
                       TensorType override_type = TensorType::F32) {
    std::filesystem::create_directories(kDir);
    SynthSpec spec = synth_spec("tiny");
    spec.hparams.n_vocab = 320;
    GgufWriter w = synth_gguf_writer(spec, {});
    for (const auto& t : synth_weights(spec)) {
        if (t.name != override_name) {
            w.add_tensor(t.name, TensorType::F32, t.dims, t.values.data(), t.values.size() * sizeof(float));
            continue;
        }
        const size_t bytes = *tensor_row_bytes(override_type, t.dims[0]) * (t.values.size() / t.dims[0]);
        std::vector<uint8_t> data(bytes);
        if (quant::can_quantize(override_type))
            for (size_t r = 0; r < t.values.size() / t.dims[0]; ++r)
                quant::quantize_row(override_type, t.values.data() + r * t.dims[0],
                                    data.data() + r * (bytes / (t.values.size() / t.dims[0])), t.dims[0]);
        w.add_tensor(t.name, override_type, t.dims, data.data(), bytes);
    }
    const std::string path = kDir + "/" + file;
    w.write(path);
    return path;
}

bool exists(const std::string& p) { return std::filesystem::exists(p); }

// The output must not exist after a failure, nor its temporary.
void check_no_output(const std::string& dst) {
    CHECK_FALSE(exists(dst));
    CHECK_FALSE(exists(dst + ".tmp"));
}

std::string last_error() { return qwen_last_error(); }

}  // namespace

TEST_CASE("file type names: llama.cpp's, case-insensitive, round trip") {
    const qwen_ftype all[] = {QWEN_FTYPE_F32,    QWEN_FTYPE_F16,    QWEN_FTYPE_BF16,   QWEN_FTYPE_Q8_0,
                              QWEN_FTYPE_Q4_0,   QWEN_FTYPE_Q4_1,   QWEN_FTYPE_Q5_0,   QWEN_FTYPE_Q5_1,
                              QWEN_FTYPE_Q4_K_S, QWEN_FTYPE_Q4_K_M, QWEN_FTYPE_Q5_K_S, QWEN_FTYPE_Q5_K_M,
                              QWEN_FTYPE_Q6_K,   QWEN_FTYPE_IQ4_NL, QWEN_FTYPE_IQ4_XS};
    for (qwen_ftype f : all) {
        const char* name = qwen_ftype_name(f);
        REQUIRE(name != nullptr);
        qwen_ftype back = QWEN_FTYPE_F32;
        CHECK(qwen_ftype_from_name(name, &back) == QWEN_OK);
        CHECK(back == f);
    }
    CHECK(std::string(qwen_ftype_name(QWEN_FTYPE_Q4_K_M)) == "Q4_K_M");
    CHECK(QWEN_FTYPE_Q4_K_M == 15);  // llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_K_M
    qwen_ftype f = QWEN_FTYPE_F32;
    CHECK(qwen_ftype_from_name("q4_k_m", &f) == QWEN_OK);
    CHECK(f == QWEN_FTYPE_Q4_K_M);
    CHECK(qwen_ftype_from_name("iq4_Xs", &f) == QWEN_OK);
    CHECK(f == QWEN_FTYPE_IQ4_XS);

    CHECK(qwen_ftype_name(qwen_ftype(10)) == nullptr);  // Q2_K: not produced by libqwen
    f = QWEN_FTYPE_Q6_K;
    CHECK(qwen_ftype_from_name("Q4_K", &f) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("'Q4_K' is not a file type") != std::string::npos);
    CHECK(last_error().find("Q4_K_M") != std::string::npos);
    CHECK(f == QWEN_FTYPE_Q6_K);
    CHECK(qwen_ftype_from_name("", &f) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_ftype_from_name(nullptr, &f) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_ftype_from_name("Q8_0", nullptr) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("qwen_ftype_from_name") != std::string::npos);
}

TEST_CASE("a run: every tensor reported once, in file order, and the file loads") {
    const std::string src = tiny_model("ok-f32.gguf"), dst = kDir + "/ok-q4_k_m.gguf";
    std::filesystem::remove(dst);
    struct Seen {
        std::vector<std::string> names, types;
        size_t count = 0;
        uint64_t dst_bytes = 0;
    } seen;
    qwen_quantize_params p = qwen_quantize_default_params();
    CHECK(p.struct_size == sizeof p);
    CHECK(p.ftype == QWEN_FTYPE_Q8_0);
    p.ftype = QWEN_FTYPE_Q4_K_M;
    p.n_threads = 2;
    p.user_data = &seen;
    p.callback = [](const qwen_quantize_progress* e, void* ud) {
        auto* s = static_cast<Seen*>(ud);
        CHECK(e->index == s->names.size());
        s->count = e->count;
        s->names.push_back(e->name);
        s->types.push_back(e->dst_type);
        s->dst_bytes += e->dst_bytes;
        return 0;
    };
    REQUIRE(qwen_model_quantize(src.c_str(), dst.c_str(), &p) == QWEN_OK);
    CHECK_FALSE(exists(dst + ".tmp"));

    GgufFile out(dst);
    REQUIRE(seen.names.size() == out.tensors().size());
    CHECK(seen.count == out.tensors().size());
    uint64_t bytes = 0;
    for (size_t i = 0; i < seen.names.size(); ++i) {
        CHECK(out.tensors()[i].name == seen.names[i]);
        CHECK(tensor_type_name(out.tensors()[i].type) == seen.types[i]);
        bytes += out.tensors()[i].bytes;
    }
    CHECK(bytes == seen.dst_bytes);
    CHECK(out.get_uint("general.file_type") == 15u);
    CHECK(out.get_uint("general.quantization_version") == 2u);
    CHECK(out.get_uint("qwen2.block_count") == 2u);
    // Rows of 64 cannot hold Q4_K: the matrices fall back to Q5_0, the tied embedding to Q8_0.
    CHECK(out.find_tensor("blk.0.attn_q.weight")->type == TensorType::Q5_0);
    CHECK(out.find_tensor("token_embd.weight")->type == TensorType::Q8_0);
    CHECK(out.find_tensor("blk.0.attn_norm.weight")->type == TensorType::F32);

    // The model accepts the file: every weight of the right shape and a type it computes with.
    CHECK_NOTHROW(Model(open_gguf_source(std::make_shared<const GgufFile>(dst))));

    // NULL params: Q8_0; an older caller's smaller struct reads only the fields it has.
    CHECK(qwen_model_quantize(src.c_str(), dst.c_str(), nullptr) == QWEN_OK);
    CHECK(GgufFile(dst).find_tensor("blk.0.attn_q.weight")->type == TensorType::Q8_0);
    qwen_quantize_params old = qwen_quantize_default_params();
    old.ftype = QWEN_FTYPE_Q4_0;
    old.pure = 1;  // beyond the old size: ignored
    old.struct_size = offsetof(qwen_quantize_params, n_threads);
    CHECK(qwen_model_quantize(src.c_str(), dst.c_str(), &old) == QWEN_OK);
    CHECK(GgufFile(dst).find_tensor("token_embd.weight")->type == TensorType::Q8_0);  // the mix, not pure
}

TEST_CASE("errors name the problem and leave no file") {
    const std::string src = tiny_model("err-f32.gguf"), dst = kDir + "/err-out.gguf";
    std::filesystem::remove(dst);
    qwen_quantize_params p = qwen_quantize_default_params();

    SUBCASE("NULL paths") {
        CHECK(qwen_model_quantize(nullptr, dst.c_str(), &p) == QWEN_ERR_INVALID_ARGUMENT);
        CHECK(qwen_model_quantize(src.c_str(), nullptr, &p) == QWEN_ERR_INVALID_ARGUMENT);
        CHECK(last_error().find("qwen_model_quantize") != std::string::npos);
    }
    SUBCASE("missing input") {
        CHECK(qwen_model_quantize((kDir + "/nope.gguf").c_str(), dst.c_str(), &p) == QWEN_ERR_IO);
        CHECK(last_error().find("nope.gguf") != std::string::npos);
    }
    SUBCASE("an input that is not a model") {
        std::ofstream(kDir + "/junk.gguf") << "not a gguf file";
        CHECK(qwen_model_quantize((kDir + "/junk.gguf").c_str(), dst.c_str(), &p) == QWEN_ERR_FORMAT);
    }
    SUBCASE("bad file type") {
        p.ftype = qwen_ftype(10);  // llama.cpp's Q2_K, which libqwen does not write
        CHECK(qwen_model_quantize(src.c_str(), dst.c_str(), &p) == QWEN_ERR_INVALID_ARGUMENT);
        CHECK(last_error().find("ftype 10") != std::string::npos);
    }
    SUBCASE("bad struct_size") {
        p.struct_size = 0;
        CHECK(qwen_model_quantize(src.c_str(), dst.c_str(), &p) == QWEN_ERR_INVALID_ARGUMENT);
    }
    SUBCASE("output is the input") {
        CHECK(qwen_model_quantize(src.c_str(), src.c_str(), &p) == QWEN_ERR_INVALID_ARGUMENT);
        CHECK(exists(src));
    }
    SUBCASE("output folder missing") {
        const std::string bad = kDir + "/no-such-dir/out.gguf";
        CHECK(qwen_model_quantize(src.c_str(), bad.c_str(), &p) == QWEN_ERR_IO);
        CHECK(last_error().find("no-such-dir") != std::string::npos);
    }
    check_no_output(dst);
}

TEST_CASE("already quantized input: refused unless allow_requantize") {
    const std::string src = tiny_model("q4_0-embd.gguf", "token_embd.weight", TensorType::Q4_0);
    const std::string dst = kDir + "/requant.gguf";
    std::filesystem::remove(dst);
    qwen_quantize_params p = qwen_quantize_default_params();
    CHECK(qwen_model_quantize(src.c_str(), dst.c_str(), &p) == QWEN_ERR_UNSUPPORTED);
    CHECK(last_error().find("token_embd.weight") != std::string::npos);
    CHECK(last_error().find("q4_0") != std::string::npos);
    CHECK(last_error().find("allow_requantize") != std::string::npos);
    check_no_output(dst);

    p.allow_requantize = 1;
    CHECK(qwen_model_quantize(src.c_str(), dst.c_str(), &p) == QWEN_OK);
    CHECK(GgufFile(dst).find_tensor("token_embd.weight")->type == TensorType::Q8_0);

    // A tensor already in its target type is copied, not requantized: no permission needed.
    p.allow_requantize = 0;
    p.ftype = QWEN_FTYPE_Q4_0;
    p.pure = 1;
    CHECK(qwen_model_quantize(src.c_str(), dst.c_str(), &p) == QWEN_OK);
}

TEST_CASE("a tensor type that cannot be converted is named") {
    const std::string src = tiny_model("i32-matrix.gguf", "blk.1.ffn_up.weight", TensorType::I32);
    const std::string dst = kDir + "/i32-out.gguf";
    std::filesystem::remove(dst);
    qwen_quantize_params p = qwen_quantize_default_params();
    p.allow_requantize = 1;
    CHECK(qwen_model_quantize(src.c_str(), dst.c_str(), &p) == QWEN_ERR_UNSUPPORTED);
    CHECK(last_error().find("blk.1.ffn_up.weight") != std::string::npos);
    CHECK(last_error().find("i32") != std::string::npos);
    check_no_output(dst);
}

TEST_CASE("cancel from the callback: QWEN_ERR_ABORTED, no file, an existing file untouched") {
    const std::string src = tiny_model("cancel-f32.gguf"), dst = kDir + "/cancel-out.gguf";
    std::ofstream(dst) << "previous contents";
    size_t calls = 0;
    qwen_quantize_params p = qwen_quantize_default_params();
    p.user_data = &calls;
    p.callback = [](const qwen_quantize_progress* e, void* ud) {
        ++*static_cast<size_t*>(ud);
        return e->index == 3 ? 1 : 0;
    };
    CHECK(qwen_model_quantize(src.c_str(), dst.c_str(), &p) == QWEN_ERR_ABORTED);
    CHECK(calls == 4);
    CHECK(last_error().find("cancelled") != std::string::npos);
    CHECK_FALSE(exists(dst + ".tmp"));
    std::ifstream in(dst);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == "previous contents");
}
