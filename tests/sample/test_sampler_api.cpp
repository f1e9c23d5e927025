// The sampler section of the C API on a tiny synthetic model: default params, every
// validation error, sampling real logits, determinism, and the defaults a model's files
// declare (generation_config.json of a Hugging Face folder, general.sampling.* of a GGUF).
#include <qwen/qwen.h>

#include "api/handles.hpp"
#include "format/gguf.hpp"
#include "format/gguf_source.hpp"
#include "format/hf_source.hpp"
#include "model/model.hpp"
#include "synth/synth_model.hpp"
#include "tokenizer/tokenizer.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
const std::string kDir = std::string(QWEN_BINARY_DIR) + "/test_sampler_api";
constexpr uint32_t kVocab = 320;

struct Files {
    std::string gguf, gguf_sampling, hf;
};

// A tiny Qwen2 (the model API's tests prove loading; the sampler only needs the handle), as a
// GGUF, a GGUF with llama.cpp's sampling keys, and a Hugging Face folder.
const Files& files() {
    static const Files f = [] {
        fs::create_directories(kDir);
        qwen::SynthSpec spec = qwen::synth_spec("tiny");
        spec.hparams.n_vocab = kVocab;
        const auto w = qwen::synth_weights(spec);
        Files out{kDir + "/tiny.gguf", kDir + "/sampling.gguf", kDir + "/tiny-hf"};
        qwen::synth_gguf_writer(spec, w).write(out.gguf);
        qwen::GgufWriter g = qwen::synth_gguf_writer(spec, w);
        g.set_float32("general.sampling.temp", 0.6f);
        g.set_int32("general.sampling.top_k", 30);
        g.set_float32("general.sampling.min_p", 0.05f);  // no place in the params' defaults
        g.write(out.gguf_sampling);
        fs::remove_all(out.hf);
        qwen::write_synth_hf(spec, w, out.hf);
        return out;
    }();
    return f;
}

std::unique_ptr<qwen_model> model_from(std::unique_ptr<qwen::ModelSource> source) {
    auto m = std::make_unique<qwen_model>();
    m->model = std::make_unique<qwen::Model>(std::move(source));
    return m;
}
std::unique_ptr<qwen_model> gguf_model(const std::string& path) {
    return model_from(qwen::open_gguf_source(std::make_shared<const qwen::GgufFile>(path)));
}
std::unique_ptr<qwen_model> hf_model() { return model_from(qwen::open_hf_folder(files().hf)); }

std::vector<float> ramp_logits() {
    std::vector<float> l(kVocab);
    for (uint32_t i = 0; i < kVocab; ++i) l[i] = float(std::sin(double(i) * 0.37) * 4.0);
    return l;
}

std::string last_error() { return qwen_last_error(); }

}  // namespace

TEST_CASE("default params: Qwen2.5's published sampling, the rest off") {
    const qwen_sampler_params p = qwen_sampler_default_params();
    CHECK(p.struct_size == sizeof p);
    CHECK(p.seed == 0xC0FFEE);
    CHECK(p.temperature == 0.7f);
    CHECK(p.top_k == 20);
    CHECK(p.top_p == 0.8f);
    CHECK(p.min_p == 0.0f);
    CHECK(p.typical_p == 1.0f);
    CHECK(p.repetition_penalty == 1.1f);
    CHECK(p.frequency_penalty == 0.0f);
    CHECK(p.presence_penalty == 0.0f);
    CHECK(p.penalty_last_n == -1);
    CHECK(p.logit_bias == nullptr);
    CHECK(p.n_logit_bias == 0);
    CHECK(p.order == nullptr);
    CHECK(p.n_order == 0);

    // An older caller's smaller struct: only its bytes are written.
    qwen_sampler_params old;
    std::memset(&old, 0xAB, sizeof old);
    qwen_sampler_params_init(&old, offsetof(qwen_sampler_params, min_p));
    CHECK(old.struct_size == offsetof(qwen_sampler_params, min_p));
    CHECK(old.top_p == 0.8f);
    unsigned char tail[sizeof old - offsetof(qwen_sampler_params, min_p)];
    std::memset(tail, 0xAB, sizeof tail);
    CHECK(std::memcmp(reinterpret_cast<unsigned char*>(&old) + offsetof(qwen_sampler_params, min_p), tail,
                      sizeof tail) == 0);
}

TEST_CASE("sample real logits of a model, accept, reset, free") {
    auto m = gguf_model(files().gguf);
    REQUIRE(qwen_model_n_vocab(m.get()) == int32_t(kVocab));
    qwen_context* ctx = nullptr;
    REQUIRE(qwen_context_create(m.get(), nullptr, &ctx) == QWEN_OK);
    const int32_t prompt[] = {1, 5, 9, 200};
    REQUIRE(qwen_eval(ctx, prompt, 4, 0) == QWEN_OK);
    const float* logits = qwen_context_logits(ctx, nullptr);
    REQUIRE(logits);

    qwen_sampler* s = nullptr;
    REQUIRE(qwen_sampler_create(m.get(), nullptr, &s) == QWEN_OK);
    REQUIRE(qwen_sampler_accept(s, prompt, 4) == QWEN_OK);
    std::vector<int32_t> first;
    for (int i = 0; i < 20; ++i) {
        int32_t t = -1;
        REQUIRE(qwen_sampler_sample(s, logits, kVocab, &t) == QWEN_OK);
        CHECK(t >= 0);
        CHECK(t < int32_t(kVocab));
        first.push_back(t);
    }
    qwen_sampler_reset(s);
    REQUIRE(qwen_sampler_accept(s, prompt, 4) == QWEN_OK);
    for (int32_t want : first) {
        int32_t t = -1;
        REQUIRE(qwen_sampler_sample(s, logits, kVocab, &t) == QWEN_OK);
        CHECK(t == want);
    }

    // Greedy is the argmax of the model's row.
    qwen_sampler_params p = qwen_sampler_default_params();
    p.temperature = 0;
    qwen_sampler* g = nullptr;
    REQUIRE(qwen_sampler_create(m.get(), &p, &g) == QWEN_OK);
    int32_t t = -1;
    REQUIRE(qwen_sampler_sample(g, logits, kVocab, &t) == QWEN_OK);
    CHECK(t == int32_t(std::max_element(logits, logits + kVocab) - logits));

    qwen_sampler_free(g);
    qwen_sampler_free(s);
    qwen_sampler_free(nullptr);
    qwen_sampler_reset(nullptr);
    qwen_context_free(ctx);
}

TEST_CASE("logit bias and a custom order through the C API") {
    auto m = gguf_model(files().gguf);
    const auto l = ramp_logits();
    const int32_t best = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
    qwen_sampler_params p = qwen_sampler_default_params();
    p.temperature = 0;
    const qwen_logit_bias ban[] = {{best, -INFINITY}};
    p.logit_bias = ban;
    p.n_logit_bias = 1;
    const qwen_sampler_stage order[] = {QWEN_STAGE_LOGIT_BIAS, QWEN_STAGE_PENALTIES};
    p.order = order;
    p.n_order = 2;
    qwen_sampler* s = nullptr;
    REQUIRE(qwen_sampler_create(m.get(), &p, &s) == QWEN_OK);
    int32_t t = -1;
    REQUIRE(qwen_sampler_sample(s, l.data(), l.size(), &t) == QWEN_OK);
    CHECK(t != best);
    qwen_sampler_free(s);
}

TEST_CASE("every invalid argument is an error naming the function and the field") {
    auto m = gguf_model(files().gguf);
    auto create_fails = [&](const qwen_sampler_params& p, const char* field) {
        qwen_sampler* s = reinterpret_cast<qwen_sampler*>(0x1);
        CHECK(qwen_sampler_create(m.get(), &p, &s) == QWEN_ERR_INVALID_ARGUMENT);
        CHECK(s == reinterpret_cast<qwen_sampler*>(0x1));  // not written on failure
        INFO(last_error());
        CHECK(last_error().find("qwen_sampler_create") != std::string::npos);
        CHECK(last_error().find(field) != std::string::npos);
    };
    auto with = [](auto edit) {
        qwen_sampler_params p = qwen_sampler_default_params();
        edit(p);
        return p;
    };
    create_fails(with([](auto& p) { p.temperature = NAN; }), "temperature");
    create_fails(with([](auto& p) { p.top_k = -5; }), "top_k = -5");
    create_fails(with([](auto& p) { p.top_p = 0; }), "top_p");
    create_fails(with([](auto& p) { p.min_p = 2; }), "min_p");
    create_fails(with([](auto& p) { p.typical_p = -1; }), "typical_p");
    create_fails(with([](auto& p) { p.repetition_penalty = -1; }), "repetition_penalty");
    create_fails(with([](auto& p) { p.penalty_last_n = -7; }), "penalty_last_n");
    const qwen_logit_bias outside[] = {{int32_t(kVocab), 1.0f}};
    create_fails(with([&](auto& p) { p.logit_bias = outside, p.n_logit_bias = 1; }), "logit_bias[0].token = 320");
    const qwen_logit_bias nan_bias[] = {{3, NAN}};
    create_fails(with([&](auto& p) { p.logit_bias = nan_bias, p.n_logit_bias = 1; }), "logit_bias[0].bias");
    create_fails(with([](auto& p) { p.n_logit_bias = 2; }), "logit_bias");
    // A stage number no enumerator has, as a C caller can pass it.
    const int32_t unknown[] = {QWEN_STAGE_TOP_K, 9};
    create_fails(with([&](auto& p) { p.order = reinterpret_cast<const qwen_sampler_stage*>(unknown), p.n_order = 2; }),
                 "order[1] = 9");
    const qwen_sampler_stage twice[] = {QWEN_STAGE_MIN_P, QWEN_STAGE_MIN_P};
    create_fails(with([&](auto& p) { p.order = twice, p.n_order = 2; }), "order[1] repeats the stage min_p");
    create_fails(with([&](auto& p) { p.order = twice, p.n_order = QWEN_SAMPLER_MAX_STAGES + 1; }), "n_order = 17");
    create_fails(with([](auto& p) { p.struct_size = 0; }), "struct_size");

    qwen_sampler* s = nullptr;
    CHECK(qwen_sampler_create(nullptr, nullptr, &s) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_sampler_create(m.get(), nullptr, nullptr) == QWEN_ERR_INVALID_ARGUMENT);
    REQUIRE(qwen_sampler_create(m.get(), nullptr, &s) == QWEN_OK);
    auto l = ramp_logits();
    int32_t t = 0;
    CHECK(qwen_sampler_sample(s, l.data(), kVocab - 1, &t) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("qwen_sampler_sample: n_logits = 319") != std::string::npos);
    l[17] = NAN;
    CHECK(qwen_sampler_sample(s, l.data(), kVocab, &t) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(last_error() == "qwen_sampler_sample: logits[17] is NaN");
    CHECK(qwen_sampler_sample(s, nullptr, kVocab, &t) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_sampler_sample(s, l.data(), kVocab, nullptr) == QWEN_ERR_INVALID_ARGUMENT);
    std::fill(l.begin(), l.end(), -INFINITY);
    CHECK(qwen_sampler_sample(s, l.data(), kVocab, &t) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("every token is banned") != std::string::npos);
    const int32_t bad[] = {0, -3};
    CHECK(qwen_sampler_accept(s, bad, 2) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("tokens[1] = -3") != std::string::npos);
    CHECK(qwen_sampler_accept(s, nullptr, 1) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_sampler_accept(s, nullptr, 0) == QWEN_OK);
    qwen_sampler_free(s);

    float lp;
    const float row[] = {1, 2, 3};
    CHECK(qwen_logprobs(row, 3, 5, &lp, nullptr, 0) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("qwen_logprobs: token = 5") != std::string::npos);
    CHECK(qwen_logprobs(nullptr, 3, 0, &lp, nullptr, 0) == QWEN_ERR_INVALID_ARGUMENT);
    qwen_token_logprob top[2];
    REQUIRE(qwen_logprobs(row, 3, 0, &lp, top, 2) == QWEN_OK);
    CHECK(top[0].token == 2);
    CHECK(std::fabs(double(lp) - (1 - std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)))) < 1e-6);
}

TEST_CASE("params from the model: generation_config.json of a Hugging Face folder") {
    qwen_sampler_params p = qwen_sampler_default_params();
    p.temperature = 0.3f;
    p.top_k = 5;
    p.top_p = 0.5f;
    p.repetition_penalty = 1.0f;
    p.min_p = 0.1f;
    {
        auto m = hf_model();  // write_synth_hf writes the published file: 0.7, 20, 0.8, 1.1
        REQUIRE(qwen_sampler_params_from_model(m.get(), &p) == QWEN_OK);
    }
    CHECK(p.temperature == 0.7f);
    CHECK(p.top_k == 20);
    CHECK(p.top_p == 0.8f);
    CHECK(p.repetition_penalty == 1.1f);
    CHECK(p.min_p == 0.1f);  // not something the file declares

    auto rewrite = [](const char* json) {
        std::ofstream(files().hf + "/generation_config.json") << json;
        return hf_model();
    };
    {
        // Greedy as transformers reads it; what the file leaves out takes transformers' value.
        auto m = rewrite(R"({"do_sample": false, "repetition_penalty": 1.3})");
        REQUIRE(qwen_sampler_params_from_model(m.get(), &p) == QWEN_OK);
        CHECK(p.temperature == 0.0f);
        CHECK(p.repetition_penalty == 1.3f);
        CHECK(p.top_k == 0);
        CHECK(p.top_p == 1.0f);
        // The result creates a sampler: the params are always valid ones.
        qwen_sampler* s = nullptr;
        REQUIRE(qwen_sampler_create(m.get(), &p, &s) == QWEN_OK);
        qwen_sampler_free(s);
    }
    {
        auto m = rewrite(R"({"do_sample": true, "top_p": 0, "temperature": 0.9})");  // top_p 0 keeps one token
        p = qwen_sampler_default_params();
        REQUIRE(qwen_sampler_params_from_model(m.get(), &p) == QWEN_OK);
        CHECK(p.temperature == 0.0f);
        CHECK(p.top_p == 0.8f);
    }
    {
        // An older caller's struct that ends before top_k: only its bytes are written.
        auto m = rewrite(R"({"do_sample": true, "temperature": 0.9, "top_k": 7})");
        qwen_sampler_params old;
        std::memset(&old, 0xAB, sizeof old);
        qwen_sampler_params_init(&old, offsetof(qwen_sampler_params, top_k));
        REQUIRE(qwen_sampler_params_from_model(m.get(), &old) == QWEN_OK);
        CHECK(old.temperature == 0.9f);
        CHECK(old.struct_size == offsetof(qwen_sampler_params, top_k));
        int32_t untouched;
        std::memset(&untouched, 0xAB, sizeof untouched);
        CHECK(old.top_k == untouched);
    }
    fs::remove(files().hf + "/generation_config.json");
    {
        auto m = hf_model();
        const qwen_sampler_params before = p;
        REQUIRE(qwen_sampler_params_from_model(m.get(), &p) == QWEN_OK);
        CHECK(std::memcmp(&before, &p, sizeof p) == 0);
    }
}

TEST_CASE("params from the model: a GGUF file") {
    qwen_sampler_params p = qwen_sampler_default_params();
    const qwen_sampler_params defaults = p;
    auto plain = gguf_model(files().gguf);  // no sampling keys: Qwen's defaults stay as they are
    REQUIRE(qwen_sampler_params_from_model(plain.get(), &p) == QWEN_OK);
    CHECK(std::memcmp(&defaults, &p, sizeof p) == 0);

    auto keyed = gguf_model(files().gguf_sampling);  // temp 0.6, top_k 30; top_p and penalty absent
    REQUIRE(qwen_sampler_params_from_model(keyed.get(), &p) == QWEN_OK);
    CHECK(p.temperature == 0.6f);
    CHECK(p.top_k == 30);
    CHECK(p.top_p == 1.0f);
    CHECK(p.repetition_penalty == 1.0f);
    CHECK(p.min_p == 0.0f);

    CHECK(qwen_sampler_params_from_model(nullptr, &p) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_sampler_params_from_model(plain.get(), nullptr) == QWEN_ERR_INVALID_ARGUMENT);
}
