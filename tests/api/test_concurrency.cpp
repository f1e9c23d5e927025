// One model shared by threads: contexts on it generate in parallel what they generate
// serially (also with OpenMP teams inside each thread and grammar-constrained samplers),
// qwen_eval_batch from several threads matches serial qwen_eval bit for bit, and
// qwen_context_abort() from another thread stops exactly the context it names. Run under
// ThreadSanitizer by scripts/test.sh (suite tsan).
#include "long_context_model.hpp"

#include <atomic>
#include <cstring>
#include <thread>

using namespace qwen::test;

namespace {

struct Generated {
    std::vector<int32_t> tokens;
    std::string text;
    qwen_finish_reason finish = QWEN_FINISH_NONE;
    qwen_status status = QWEN_ERR_INTERNAL;
};

// Greedy (or grammar-constrained) generation of `max_tokens` from `prompt` on a new context.
Generated generate(const std::string& prompt, int max_tokens, int32_t n_threads, const char* schema = nullptr) {
    Generated g;
    qwen_context* ctx = new_context(512, n_threads);
    qwen_sampler* sampler = nullptr;
    if (schema) {
        qwen_sampler_params sp = qwen_sampler_default_params();
        sp.temperature = 0;
        sp.repetition_penalty = 1;
        sp.json_schema = schema;
        REQUIRE(qwen_sampler_create(long_context_model(), &sp, &sampler) == QWEN_OK);
    }
    qwen_generate_params p = qwen_generate_default_params();
    p.max_tokens = max_tokens;
    p.flags = QWEN_GENERATE_IGNORE_EOS;
    p.user_data = &g;
    p.callback = [](const qwen_generate_event* e, void* ud) {
        auto* out = static_cast<Generated*>(ud);
        if (e->token >= 0) out->tokens.push_back(e->token);
        out->text.append(e->text, e->text_len);
        return 0;
    };
    qwen_generate_result r{};
    r.struct_size = sizeof r;
    const auto toks = bytes_to_tokens(prompt);
    g.status = qwen_generate(ctx, sampler, toks.data(), toks.size(), &p, &r);
    g.finish = r.finish_reason;
    qwen_sampler_free(sampler);
    qwen_context_free(ctx);
    return g;
}

std::vector<float> last_logits(qwen_context* c) {
    size_t rows = 0;
    const float* l = qwen_context_logits(c, &rows);
    REQUIRE(l != nullptr);
    return std::vector<float>(l + (rows - 1) * kVocab, l + rows * kVocab);
}

}  // namespace

TEST_CASE("threads sharing one model generate what a serial run generates") {
    const std::vector<std::string> prompts = {"first conversation", "second", "a third, longer prompt here",
                                              "<|im_start|>user\nhi"};
    const char* schema = R"({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})";
    std::vector<Generated> serial, parallel(2 * prompts.size());
    for (const auto& p : prompts) serial.push_back(generate(p, 24, 1));
    for (const auto& p : prompts) serial.push_back(generate(p, 24, 1, schema));
    {
        std::vector<std::thread> threads;
        for (size_t i = 0; i < parallel.size(); ++i)
            threads.emplace_back([&, i] {
                // OpenMP teams of 2 inside each thread, and the model's tokenizer used meanwhile.
                const size_t k = i % prompts.size();
                parallel[i] = generate(prompts[k], 24, 2, i < prompts.size() ? nullptr : schema);
                int32_t ids[64];
                size_t n = 0;
                if (qwen_tokenize(long_context_model(), prompts[k].data(), prompts[k].size(), 0, ids, 64, &n) != QWEN_OK)
                    parallel[i].status = QWEN_ERR_INTERNAL;
            });
        for (auto& t : threads) t.join();
    }
    for (size_t i = 0; i < serial.size(); ++i) {
        CAPTURE(i);
        CHECK(serial[i].status == QWEN_OK);
        CHECK(serial[i].tokens.size() == 24);
        CHECK(parallel[i].status == QWEN_OK);
        CHECK(parallel[i].tokens == serial[i].tokens);
        CHECK(parallel[i].text == serial[i].text);
    }
}

TEST_CASE("qwen_eval_batch in several threads equals serial qwen_eval, logits bit for bit") {
    constexpr size_t kThreads = 2, kSeqs = 3;
    const std::vector<std::string> prompts = {"alpha", "a longer history of bytes", "z"};
    std::vector<std::vector<std::vector<float>>> batched(kThreads), single(kThreads);
    auto run = [&](size_t t, bool use_batch) {
        std::vector<qwen_context*> ctxs;
        std::vector<int32_t> next;
        for (size_t s = 0; s < kSeqs; ++s) {
            ctxs.push_back(new_context(128, use_batch ? 2 : 1));
            const auto toks = bytes_to_tokens(prompts[s] + std::to_string(t));
            REQUIRE(qwen_eval(ctxs[s], toks.data(), toks.size(), 0) == QWEN_OK);
            next.push_back(int32_t('a' + s));
        }
        auto& out = use_batch ? batched[t] : single[t];
        for (int step = 0; step < 8; ++step) {
            if (use_batch) {
                REQUIRE(qwen_eval_batch(ctxs.data(), next.data(), kSeqs) == QWEN_OK);
            } else {
                for (size_t s = 0; s < kSeqs; ++s) REQUIRE(qwen_eval(ctxs[s], &next[s], 1, 0) == QWEN_OK);
            }
            for (size_t s = 0; s < kSeqs; ++s) {
                out.push_back(last_logits(ctxs[s]));
                next[s] = int32_t('a' + (step * 7 + s) % 26);
            }
        }
        for (qwen_context* c : ctxs) qwen_context_free(c);
    };
    for (size_t t = 0; t < kThreads; ++t) run(t, false);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) threads.emplace_back(run, t, true);
    for (auto& th : threads) th.join();
    for (size_t t = 0; t < kThreads; ++t) {
        REQUIRE(batched[t].size() == single[t].size());
        for (size_t i = 0; i < single[t].size(); ++i)
            CHECK(std::memcmp(batched[t][i].data(), single[t][i].data(), single[t][i].size() * sizeof(float)) == 0);
    }
}

TEST_CASE("qwen_context_abort from another thread stops that context only") {
    qwen_context* victim = new_context(4096);
    qwen_context* bystander = new_context(512);
    const auto warmup = bytes_to_tokens("kept");
    REQUIRE(qwen_eval(victim, warmup.data(), warmup.size(), 0) == QWEN_OK);
    const std::vector<float> before = last_logits(victim);

    // A long prompt, aborted while it is evaluated (the request is repeated until the call
    // returns, so it cannot come too late); it leaves the context as it was.
    const std::vector<int32_t> prompt(3000, int32_t('x'));
    std::atomic<bool> done{false};
    std::thread stopper([&] {
        while (!done.load()) {
            qwen_context_abort(victim);
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    });
    Generated other;
    std::thread neighbour([&] { other = generate("unaffected", 16, 1); });
    const qwen_status s = qwen_eval(victim, prompt.data(), prompt.size(), 0);
    done = true;
    stopper.join();
    neighbour.join();
    CHECK(s == QWEN_ERR_ABORTED);
    CHECK(std::string(qwen_last_error()).find("abort") != std::string::npos);
    CHECK(qwen_context_n_past(victim) == warmup.size());
    CHECK(last_logits(victim) == before);
    CHECK(other.status == QWEN_OK);
    CHECK(other.finish == QWEN_FINISH_LENGTH);
    CHECK(other.tokens == generate("unaffected", 16, 1).tokens);

    // Still usable: a request that arrived after the call returned is consumed by the next one.
    const int32_t t = 'y';
    qwen_status again = qwen_eval(victim, &t, 1, 0);
    if (again == QWEN_ERR_ABORTED) again = qwen_eval(victim, &t, 1, 0);
    CHECK(again == QWEN_OK);
    CHECK(qwen_context_n_past(victim) == warmup.size() + 1);

    // A generation aborted from another thread ends with finish reason ABORTED, not an error.
    std::atomic<bool> started{false};
    std::thread stopper2([&] {
        while (!started.load()) std::this_thread::yield();
        qwen_context_abort(bystander);
    });
    qwen_generate_params p = qwen_generate_default_params();
    p.max_tokens = 0;
    p.flags = QWEN_GENERATE_IGNORE_EOS;
    p.user_data = &started;
    p.callback = [](const qwen_generate_event*, void* ud) {
        static_cast<std::atomic<bool>*>(ud)->store(true);
        return 0;
    };
    qwen_generate_result r{};
    r.struct_size = sizeof r;
    const auto toks = bytes_to_tokens("go on forever");
    CHECK(qwen_generate(bystander, nullptr, toks.data(), toks.size(), &p, &r) == QWEN_OK);
    stopper2.join();
    CHECK(r.finish_reason == QWEN_FINISH_ABORTED);
    CHECK(r.n_generated_tokens < 512 - toks.size());
    qwen_context_free(bystander);
    qwen_context_free(victim);
}
