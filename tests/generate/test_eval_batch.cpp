// qwen_eval_batch: one decode step of several sequences in one pass gives every context the
// logits (bit for bit) and the cache that separate qwen_eval calls give it, whatever their
// history lengths, KV types and thread counts; every argument error changes nothing.
#include "tiny_chat_model.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using namespace qwen::test;

namespace {

qwen_context* make_ctx(uint32_t n_ctx, int threads, qwen_kv_type kv) {
    qwen_context_params p = qwen_context_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = threads;
    p.kv_type = kv;
    qwen_context* c = nullptr;
    REQUIRE(qwen_context_create(tiny_chat_model(), &p, &c) == QWEN_OK);
    return c;
}

std::vector<float> last_logits(qwen_context* c) {
    size_t rows = 0;
    const float* l = qwen_context_logits(c, &rows);
    REQUIRE(l != nullptr);
    return std::vector<float>(l + (rows - 1) * kVocab, l + rows * kVocab);
}

int32_t argmax(const std::vector<float>& v) { return int32_t(std::max_element(v.begin(), v.end()) - v.begin()); }

}  // namespace

TEST_CASE("a batched decode step equals separate steps, logits bit for bit") {
    const std::vector<std::string> prompts = {"hello", "a longer history of bytes", "x",
                                              std::string(150, 'q') + " past one value block"};
    const qwen_kv_type kvs[] = {QWEN_KV_F16, QWEN_KV_F32, QWEN_KV_F16, QWEN_KV_F16};
    const int threads[] = {2, 1, 1, 2};
    std::vector<qwen_context*> batched, single;
    std::vector<int32_t> next;
    for (size_t i = 0; i < prompts.size(); ++i) {
        batched.push_back(make_ctx(256, threads[i], kvs[i]));
        single.push_back(make_ctx(256, 1, kvs[i]));
        const auto toks = bytes_to_tokens(prompts[i]);
        REQUIRE(qwen_eval(batched[i], toks.data(), toks.size(), 0) == QWEN_OK);
        REQUIRE(qwen_eval(single[i], toks.data(), toks.size(), 0) == QWEN_OK);
        next.push_back(argmax(last_logits(single[i])));
    }
    for (int step = 0; step < 12; ++step) {
        CAPTURE(step);
        REQUIRE(qwen_eval_batch(batched.data(), next.data(), next.size()) == QWEN_OK);
        for (size_t i = 0; i < single.size(); ++i) {
            CAPTURE(i);
            REQUIRE(qwen_eval(single[i], &next[i], 1, 0) == QWEN_OK);
            const auto a = last_logits(batched[i]), b = last_logits(single[i]);
            size_t rows = 0;
            qwen_context_logits(batched[i], &rows);
            CHECK(rows == 1);
            CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
            CHECK(qwen_context_n_past(batched[i]) == qwen_context_n_past(single[i]));
            next[i] = argmax(b);
        }
    }
    for (size_t i = 0; i < single.size(); ++i) {
        size_t na = 0, nb = 0;
        const int32_t* ta = qwen_context_tokens(batched[i], &na);
        const int32_t* tb = qwen_context_tokens(single[i], &nb);
        REQUIRE(na == nb);
        CHECK(std::equal(ta, ta + na, tb));
        qwen_context_free(batched[i]);
        qwen_context_free(single[i]);
    }
}

TEST_CASE("a batch larger than the lead context's batch capacity is split and still exact") {
    // n_ctx 4 caps the scratch at 4 rows: 6 sequences take two passes.
    std::vector<qwen_context*> ctxs = {make_ctx(4, 1, QWEN_KV_F16)};
    for (int i = 0; i < 5; ++i) ctxs.push_back(make_ctx(64, 1, QWEN_KV_F16));
    std::vector<int32_t> toks = {10, 20, 30, 40, 50, 60};
    REQUIRE(qwen_eval_batch(ctxs.data(), toks.data(), toks.size()) == QWEN_OK);
    for (size_t i = 0; i < ctxs.size(); ++i) {
        qwen_context* ref = make_ctx(8, 1, QWEN_KV_F16);
        REQUIRE(qwen_eval(ref, &toks[i], 1, 0) == QWEN_OK);
        const auto a = last_logits(ctxs[i]), b = last_logits(ref);
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
        qwen_context_free(ref);
    }
    for (auto* c : ctxs) qwen_context_free(c);
}

TEST_CASE("qwen_eval_batch errors name the problem and change no context") {
    qwen_context* a = make_ctx(3, 1, QWEN_KV_F16);
    qwen_context* b = make_ctx(16, 1, QWEN_KV_F16);
    const int32_t hist[] = {1, 2};
    REQUIRE(qwen_eval(a, hist, 2, 0) == QWEN_OK);
    REQUIRE(qwen_eval(b, hist, 1, 0) == QWEN_OK);
    const auto a0 = last_logits(a), b0 = last_logits(b);
    auto unchanged = [&] {
        CHECK(qwen_context_n_past(a) == 2);
        CHECK(qwen_context_n_past(b) == 1);
        CHECK(last_logits(a) == a0);
        CHECK(last_logits(b) == b0);
    };
    qwen_context* pair[] = {a, b};
    int32_t toks[] = {5, 6};

    CHECK(qwen_eval_batch(nullptr, toks, 2) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_eval_batch(pair, nullptr, 2) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_eval_batch(pair, toks, 0) == QWEN_ERR_INVALID_ARGUMENT);
    qwen_context* same[] = {a, a};
    CHECK(qwen_eval_batch(same, toks, 2) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("same") != std::string::npos);
    qwen_context* with_null[] = {a, nullptr};
    CHECK(qwen_eval_batch(with_null, toks, 2) == QWEN_ERR_INVALID_ARGUMENT);
    int32_t bad[] = {5, kVocab};
    CHECK(qwen_eval_batch(pair, bad, 2) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("token 1") != std::string::npos);
    unchanged();

    // Another model, even from the same file, is refused.
    qwen_model* other = nullptr;
    REQUIRE(qwen_model_load(tiny_chat_model_path().c_str(), nullptr, &other) == QWEN_OK);
    qwen_context* c = nullptr;
    REQUIRE(qwen_context_create(other, nullptr, &c) == QWEN_OK);
    qwen_context* mixed[] = {a, c};
    CHECK(qwen_eval_batch(mixed, toks, 2) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("another model") != std::string::npos);
    qwen_context_free(c);
    qwen_model_free(other);

    // a holds 2 of 3: one more step fits, the next does not - and then b is untouched too.
    REQUIRE(qwen_eval_batch(pair, toks, 2) == QWEN_OK);
    CHECK(qwen_eval_batch(pair, toks, 2) == QWEN_ERR_CONTEXT_FULL);
    CHECK(qwen_context_n_past(b) == 2);

    // A pending abort on any context stops the batch before it starts, and is consumed.
    qwen_context* fresh[] = {b};
    qwen_context_abort(b);
    CHECK(qwen_eval_batch(fresh, toks, 1) == QWEN_ERR_ABORTED);
    CHECK(qwen_context_n_past(b) == 2);
    CHECK(qwen_eval_batch(fresh, toks, 1) == QWEN_OK);
    qwen_context_free(a);
    qwen_context_free(b);
}
