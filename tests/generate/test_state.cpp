// Saved state: a context saved mid-conversation and loaded into a fresh context (also of the
// other KV type) continues exactly as the original; corrupted, truncated and foreign states
// are refused with QWEN_ERR_FORMAT and leave the context as it was.
#include "tiny_chat_model.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

using namespace qwen::test;

namespace {

qwen_context* make_ctx(qwen_kv_type kv = QWEN_KV_F16, uint32_t n_ctx = 256) {
    qwen_context_params p = qwen_context_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = 1;
    p.kv_type = kv;
    qwen_context* c = nullptr;
    REQUIRE(qwen_context_create(tiny_chat_model(), &p, &c) == QWEN_OK);
    return c;
}

std::vector<int32_t> greedy(qwen_context* ctx, const std::vector<int32_t>& prompt, int n) {
    std::vector<int32_t> out;
    qwen_generate_params p = qwen_generate_default_params();
    p.max_tokens = n;
    p.flags = QWEN_GENERATE_IGNORE_EOS;
    p.user_data = &out;
    p.callback = [](const qwen_generate_event* ev, void* ud) {
        if (ev->token >= 0) static_cast<std::vector<int32_t>*>(ud)->push_back(ev->token);
        return 0;
    };
    REQUIRE(qwen_generate(ctx, nullptr, prompt.data(), prompt.size(), &p, nullptr) == QWEN_OK);
    return out;
}

std::vector<unsigned char> save(qwen_context* ctx) {
    size_t size = 0;
    REQUIRE(qwen_context_state_size(ctx, nullptr, &size) == QWEN_OK);
    std::vector<unsigned char> buf(size);
    size_t len = 0;
    CHECK(qwen_context_state_save(ctx, nullptr, buf.data(), buf.size() - 1, &len) == QWEN_ERR_BUFFER_TOO_SMALL);
    CHECK(len == size);
    REQUIRE(qwen_context_state_save(ctx, nullptr, buf.data(), buf.size(), &len) == QWEN_OK);
    CHECK(len == size);
    return buf;
}

}  // namespace

TEST_CASE("a restored context continues exactly as the original") {
    const auto prompt = bytes_to_tokens("save me halfway");
    qwen_context* whole = make_ctx();
    const auto expected = greedy(whole, prompt, 20);

    qwen_context* first = make_ctx();
    const auto head = greedy(first, prompt, 8);
    REQUIRE(std::equal(head.begin(), head.end(), expected.begin()));
    const auto state = save(first);

    auto continuation = prompt;
    continuation.insert(continuation.end(), head.begin(), head.end());
    for (qwen_kv_type kv : {QWEN_KV_F16, QWEN_KV_F32}) {
        qwen_context* fresh = make_ctx(kv, 512);
        REQUIRE(qwen_context_state_load(fresh, nullptr, state.data(), state.size()) == QWEN_OK);
        CHECK(qwen_context_n_past(fresh) == qwen_context_n_past(first));
        size_t rows = 0;
        CHECK(qwen_context_logits(fresh, &rows) != nullptr);
        CHECK(rows == 1);
        // Only the last generated token is evaluated: the rest comes from the state.
        std::vector<int32_t> tail;
        qwen_generate_params p = qwen_generate_default_params();
        p.max_tokens = 12;
        p.flags = QWEN_GENERATE_IGNORE_EOS;
        p.user_data = &tail;
        p.callback = [](const qwen_generate_event* ev, void* ud) {
            if (ev->token >= 0) static_cast<std::vector<int32_t>*>(ud)->push_back(ev->token);
            return 0;
        };
        qwen_generate_result r{};
        r.struct_size = sizeof r;
        REQUIRE(qwen_generate(fresh, nullptr, continuation.data(), continuation.size(), &p, &r) == QWEN_OK);
        CHECK(r.n_cached_tokens == continuation.size() - 1);
        // F16 -> F32 converts exactly; the continuation is the uninterrupted run's.
        CHECK(std::equal(tail.begin(), tail.end(), expected.begin() + 8));
        qwen_context_free(fresh);
    }
    qwen_context_free(first);
    qwen_context_free(whole);
}

TEST_CASE("state files round-trip and bad states are refused without changing the context") {
    qwen_context* ctx = make_ctx();
    greedy(ctx, bytes_to_tokens("file state"), 5);
    const std::string path = std::string(QWEN_BINARY_DIR) + "/test_generate/state.qwst";
    REQUIRE(qwen_context_state_save_file(ctx, nullptr, path.c_str()) == QWEN_OK);
    const auto state = save(ctx);

    qwen_context* other = make_ctx();
    greedy(other, bytes_to_tokens("other"), 3);
    const uint32_t before = qwen_context_n_past(other);

    auto refused = [&](const std::vector<unsigned char>& bytes, const char* needle) {
        CHECK(qwen_context_state_load(other, nullptr, bytes.data(), bytes.size()) == QWEN_ERR_FORMAT);
        CHECK_MESSAGE(std::string(qwen_last_error()).find(needle) != std::string::npos, std::string(qwen_last_error()));
        CHECK(qwen_context_n_past(other) == before);
    };
    auto flipped = state;
    flipped[flipped.size() / 2] ^= 0x40;
    refused(flipped, "checksum");
    refused(std::vector<unsigned char>(state.begin(), state.begin() + state.size() / 3), "buffer holds");
    auto magic = state;
    magic[0] = 'X';
    refused(magic, "magic");
    refused({}, "magic");

    // A state that does not fit the context's n_ctx.
    qwen_context* small = make_ctx(QWEN_KV_F16, 8);
    CHECK(qwen_context_state_load(small, nullptr, state.data(), state.size()) == QWEN_ERR_CONTEXT_FULL);
    qwen_context_free(small);

    REQUIRE(qwen_context_state_load_file(other, nullptr, path.c_str()) == QWEN_OK);
    CHECK(qwen_context_n_past(other) == qwen_context_n_past(ctx));
    size_t n1 = 0, n2 = 0;
    const int32_t* t1 = qwen_context_tokens(ctx, &n1);
    const int32_t* t2 = qwen_context_tokens(other, &n2);
    REQUIRE(n1 == n2);
    CHECK(std::equal(t1, t1 + n1, t2));
    CHECK(qwen_context_state_load_file(other, nullptr, (path + ".missing").c_str()) == QWEN_ERR_IO);
    std::remove(path.c_str());
    qwen_context_free(other);
    qwen_context_free(ctx);
}
