// qwen_generate with a sampler and with chat messages: forced end of turn through a logit
// bias, logprobs equal to qwen_logprobs() of the same logits, saved state that continues the
// random stream exactly, and a second chat turn that evaluates only its new tokens.
#include "tiny_chat_model.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using namespace qwen::test;

namespace {

struct Owned {
    qwen_context* ctx = nullptr;
    qwen_sampler* smp = nullptr;
    Owned(const qwen_sampler_params& sp, uint32_t n_ctx = 512) {
        qwen_context_params cp = qwen_context_default_params();
        cp.n_ctx = n_ctx;
        cp.n_threads = 1;
        REQUIRE(qwen_context_create(tiny_chat_model(), &cp, &ctx) == QWEN_OK);
        REQUIRE_MESSAGE(qwen_sampler_create(tiny_chat_model(), &sp, &smp) == QWEN_OK, std::string(qwen_last_error()));
    }
    ~Owned() {
        qwen_sampler_free(smp);
        qwen_context_free(ctx);
    }
};

struct Seen {
    std::vector<int32_t> tokens;
    std::vector<float> logprobs;
    std::vector<std::vector<qwen_token_logprob>> tops;
    std::string text;
    static int cb(const qwen_generate_event* ev, void* ud) {
        auto* s = static_cast<Seen*>(ud);
        s->text.append(ev->text, ev->text_len);
        if (ev->token < 0) return 0;
        s->tokens.push_back(ev->token);
        s->logprobs.push_back(ev->logprob);
        s->tops.emplace_back(ev->top, ev->top + ev->n_top);
        return 0;
    }
};

qwen_generate_result gen(Owned& o, const std::vector<int32_t>& prompt, Seen& seen, int max_tokens,
                         uint32_t flags = QWEN_GENERATE_IGNORE_EOS, int logprobs = -1) {
    qwen_generate_params p = qwen_generate_default_params();
    p.max_tokens = max_tokens;
    p.flags = flags;
    p.logprobs = logprobs;
    p.callback = Seen::cb;
    p.user_data = &seen;
    qwen_generate_result r{};
    r.struct_size = sizeof r;
    REQUIRE_MESSAGE(qwen_generate(o.ctx, o.smp, prompt.data(), prompt.size(), &p, &r) == QWEN_OK,
                    std::string(qwen_last_error()));
    return r;
}

// Sampling that only ever picks printable ASCII (bytes 0x20..0x7e): text then re-tokenizes
// to the same byte tokens, as a real tokenizer's output usually does.
std::vector<qwen_logit_bias> ascii_only() {
    std::vector<qwen_logit_bias> b;
    for (int32_t t = 0; t < kVocab; ++t)
        if (t < 0x20 || t > 0x7e) b.push_back({t, -INFINITY});
    return b;
}

}  // namespace

TEST_CASE("a logit bias on <|im_end|> ends the turn at once, with no text") {
    qwen_sampler_params sp = qwen_sampler_default_params();
    qwen_logit_bias bias{kImEnd, 1000.0f};
    sp.logit_bias = &bias;
    sp.n_logit_bias = 1;
    Owned o(sp);
    Seen seen;
    const auto r = gen(o, bytes_to_tokens("hi"), seen, 10, 0);
    CHECK(r.finish_reason == QWEN_FINISH_EOS);
    CHECK(r.n_generated_tokens == 1);
    CHECK(seen.tokens == std::vector<int32_t>{kImEnd});
    CHECK(seen.text.empty());

    // With IGNORE_EOS and KEEP_SPECIAL the token is generated and shown.
    Seen kept;
    const auto r2 = gen(o, bytes_to_tokens("hi"), kept, 2, QWEN_GENERATE_IGNORE_EOS | QWEN_GENERATE_KEEP_SPECIAL);
    CHECK(r2.finish_reason == QWEN_FINISH_LENGTH);
    CHECK(kept.text == "<|im_end|><|im_end|>");
}

TEST_CASE("logprobs are the model's log-softmax of the logits each token was drawn from") {
    qwen_sampler_params sp = qwen_sampler_default_params();
    sp.temperature = 0.0f;
    Owned o(sp);
    const auto prompt = bytes_to_tokens("logprobs");
    Seen seen;
    gen(o, prompt, seen, 6, QWEN_GENERATE_IGNORE_EOS, 3);
    REQUIRE(seen.tokens.size() == 6);

    // Recompute every step's logits with qwen_eval and compare.
    qwen_context* ref = nullptr;
    qwen_context_params cp = qwen_context_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    REQUIRE(qwen_context_create(tiny_chat_model(), &cp, &ref) == QWEN_OK);
    REQUIRE(qwen_eval(ref, prompt.data(), prompt.size(), 0) == QWEN_OK);
    for (size_t i = 0; i < seen.tokens.size(); ++i) {
        const float* logits = qwen_context_logits(ref, nullptr);
        float lp = 0;
        qwen_token_logprob top[3];
        REQUIRE(qwen_logprobs(logits, kVocab, seen.tokens[i], &lp, top, 3) == QWEN_OK);
        CHECK(seen.logprobs[i] == lp);
        REQUIRE(seen.tops[i].size() == 3);
        for (int k = 0; k < 3; ++k) {
            CHECK(seen.tops[i][k].token == top[k].token);
            CHECK(seen.tops[i][k].logprob == top[k].logprob);
        }
        CHECK(seen.tokens[i] == top[0].token);  // greedy picks the most likely
        CHECK(lp <= 0.0f);
        REQUIRE(qwen_eval(ref, &seen.tokens[i], 1, 0) == QWEN_OK);
    }
    qwen_context_free(ref);
}

TEST_CASE("a saved context and sampler continue the random stream exactly") {
    qwen_sampler_params sp = qwen_sampler_default_params();
    sp.temperature = 1.5f;  // a wide distribution: a wrong random stream would show at once
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.seed = 1234;
    const auto prompt = bytes_to_tokens("random but reproducible");
    Owned whole(sp);
    Seen all;
    gen(whole, prompt, all, 24);

    Owned first(sp);
    Seen head;
    gen(first, prompt, head, 10);
    REQUIRE(std::vector<int32_t>(all.tokens.begin(), all.tokens.begin() + 10) == head.tokens);
    size_t size = 0;
    REQUIRE(qwen_context_state_size(first.ctx, first.smp, &size) == QWEN_OK);
    std::vector<unsigned char> state(size);
    size_t len = 0;
    REQUIRE(qwen_context_state_save(first.ctx, first.smp, state.data(), state.size(), &len) == QWEN_OK);

    Owned fresh(sp);
    REQUIRE(qwen_context_state_load(fresh.ctx, fresh.smp, state.data(), len) == QWEN_OK);
    auto cont = prompt;
    cont.insert(cont.end(), head.tokens.begin(), head.tokens.end());
    Seen tail;
    gen(fresh, cont, tail, 14);
    CHECK(std::vector<int32_t>(all.tokens.begin() + 10, all.tokens.end()) == tail.tokens);

    // Without the sampler's state the stream restarts from the seed: a different continuation.
    Owned no_rng(sp);
    REQUIRE(qwen_context_state_load(no_rng.ctx, nullptr, state.data(), len) == QWEN_OK);
    Seen other;
    gen(no_rng, cont, other, 14);
    CHECK(other.tokens != tail.tokens);
}

TEST_CASE("the second turn of a chat evaluates only its new tokens") {
    qwen_sampler_params sp = qwen_sampler_default_params();
    const auto bias = ascii_only();
    sp.logit_bias = bias.data();
    sp.n_logit_bias = bias.size();
    Owned o(sp, 1024);
    qwen_generate_params p = qwen_generate_default_params();
    p.max_tokens = 12;
    Seen first;
    p.callback = Seen::cb;
    p.user_data = &first;
    qwen_chat_message turn1[] = {{"user", "Hello there", nullptr}};
    qwen_generate_result r1{};
    r1.struct_size = sizeof r1;
    REQUIRE_MESSAGE(qwen_generate_chat(o.ctx, o.smp, turn1, 1, nullptr, &p, &r1) == QWEN_OK,
                    std::string(qwen_last_error()));
    REQUIRE(r1.finish_reason == QWEN_FINISH_LENGTH);
    CHECK(r1.n_cached_tokens == 0);

    qwen_chat_message turn2[] = {
        {"user", "Hello there", nullptr}, {"assistant", first.text.c_str(), nullptr}, {"user", "And again?", nullptr}};
    size_t len = 0;
    REQUIRE(qwen_chat_render(turn2, 3, nullptr, QWEN_CHAT_ADD_GENERATION_PROMPT, nullptr, 0, &len) ==
            QWEN_ERR_BUFFER_TOO_SMALL);
    std::string text(len, '\0');
    REQUIRE(qwen_chat_render(turn2, 3, nullptr, QWEN_CHAT_ADD_GENERATION_PROMPT, text.data(), len, &len) == QWEN_OK);
    size_t n_tokens = 0;
    CHECK(qwen_tokenize(tiny_chat_model(), text.data(), len, QWEN_TOKENIZE_PARSE_SPECIAL, nullptr, 0, &n_tokens) ==
          QWEN_ERR_BUFFER_TOO_SMALL);
    Seen second;
    p.user_data = &second;
    qwen_generate_result r2{};
    r2.struct_size = sizeof r2;
    REQUIRE(qwen_generate_chat(o.ctx, o.smp, turn2, 3, nullptr, &p, &r2) == QWEN_OK);
    // The cache holds the first prompt and all generated tokens but the last, all of them a
    // prefix of the second prompt.
    CHECK(r2.n_prompt_tokens == n_tokens);
    CHECK(r2.n_cached_tokens == r1.n_prompt_tokens + r1.n_generated_tokens - 1);
    CHECK(r2.n_prompt_tokens - r2.n_cached_tokens < r2.n_prompt_tokens / 2);
}
