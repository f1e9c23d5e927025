// qwen_generate on a tiny synthetic model: greedy output equal to an explicit eval/argmax
// loop, stop strings (also across tokens), finish reasons, abort from the callback and from
// another thread, prefix reuse across turns, concurrent contexts, and every argument error.
#include "generate/stop_strings.hpp"
#include "tiny_chat_model.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace qwen;
using namespace qwen::test;

namespace {

struct Ctx {
    qwen_context* c = nullptr;
    explicit Ctx(uint32_t n_ctx = 256) {
        qwen_context_params p = qwen_context_default_params();
        p.n_ctx = n_ctx;
        p.n_threads = 1;
        REQUIRE(qwen_context_create(tiny_chat_model(), &p, &c) == QWEN_OK);
    }
    ~Ctx() { qwen_context_free(c); }
    operator qwen_context*() const { return c; }
};

// Everything the callback saw.
struct Stream {
    std::vector<int32_t> tokens;  // generated tokens (the final -1 event excluded)
    std::string text;
    int stop_after = 0;          // return non-zero at this many tokens (0: never)
    qwen_context* abort_ctx = nullptr;
    int abort_after = 0;         // call qwen_context_abort at this many tokens
    static int cb(const qwen_generate_event* ev, void* ud) {
        auto* s = static_cast<Stream*>(ud);
        if (ev->token >= 0) s->tokens.push_back(ev->token);
        s->text.append(ev->text, ev->text_len);
        if (s->abort_ctx && int(s->tokens.size()) == s->abort_after) qwen_context_abort(s->abort_ctx);
        return s->stop_after && int(s->tokens.size()) >= s->stop_after;
    }
};

qwen_generate_result run(qwen_context* ctx, const std::vector<int32_t>& prompt, Stream& s, int max_tokens,
                         uint32_t flags = QWEN_GENERATE_IGNORE_EOS, std::vector<const char*> stops = {},
                         qwen_status expect = QWEN_OK) {
    qwen_generate_params p = qwen_generate_default_params();
    p.max_tokens = max_tokens;
    p.flags = flags;
    p.stop = stops.data();
    p.n_stop = stops.size();
    p.callback = Stream::cb;
    p.user_data = &s;
    qwen_generate_result r{};
    r.struct_size = sizeof r;
    CHECK_MESSAGE(qwen_generate(ctx, nullptr, prompt.data(), prompt.size(), &p, &r) == expect, std::string(qwen_last_error()));
    return r;
}

// The reference: evaluate the prompt, then argmax and evaluate one token at a time.
std::vector<int32_t> greedy_reference(const std::vector<int32_t>& prompt, int n) {
    Ctx ctx;
    REQUIRE(qwen_eval(ctx, prompt.data(), prompt.size(), 0) == QWEN_OK);
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
        const float* l = qwen_context_logits(ctx, nullptr);
        int32_t t = int32_t(std::max_element(l, l + kVocab) - l);
        out.push_back(t);
        REQUIRE(qwen_eval(ctx, &t, 1, 0) == QWEN_OK);
    }
    return out;
}

std::string detokenize(const std::vector<int32_t>& t) {
    std::string s(4 * t.size() + 16, '\0');
    size_t len = 0;
    REQUIRE(qwen_detokenize(tiny_chat_model(), t.data(), t.size(), QWEN_DETOKENIZE_SKIP_SPECIAL, s.data(), s.size(),
                            &len) == QWEN_OK);
    s.resize(len);
    return s;
}

}  // namespace

TEST_CASE("stop strings are held back across pieces and never leak") {
    std::string out;
    StopStrings s({"END", "o w"});
    CHECK_FALSE(s.push("Hel", out));
    CHECK(out == "Hel");
    CHECK(s.push("lo wo", out));  // "o w" completes inside this piece
    CHECK(out == "Hell");

    StopStrings straddle({"END"});
    out.clear();
    CHECK_FALSE(straddle.push("abcE", out));
    CHECK(out == "abc");  // "E" may begin "END": held back
    CHECK_FALSE(straddle.push("N", out));
    CHECK(out == "abc");
    CHECK(straddle.push("Dxyz", out));
    CHECK(out == "abc");

    StopStrings partial({"END"});
    out.clear();
    CHECK_FALSE(partial.push("xE", out));
    CHECK_FALSE(partial.push("Nz", out));  // "ENz" is not a stop: all of it goes out
    CHECK(out == "xENz");
    CHECK_FALSE(partial.push("EN", out));
    partial.flush(out);  // the stream ended: the held "EN" is output after all
    CHECK(out == "xENzEN");

    StopStrings earliest({"cd", "bcd"});
    out.clear();
    CHECK(earliest.push("abcde", out));
    CHECK(out == "a");

    StopStrings none({});
    out.clear();
    CHECK_FALSE(none.push("anything", out));
    CHECK(out == "anything");
}

TEST_CASE("greedy generation equals an explicit eval + argmax loop") {
    REQUIRE(tiny_chat_model());
    const auto prompt = bytes_to_tokens("Hello, tiny model");
    Ctx ctx;
    Stream s;
    const auto r = run(ctx, prompt, s, 24);
    CHECK(r.finish_reason == QWEN_FINISH_LENGTH);
    CHECK(r.n_prompt_tokens == prompt.size());
    CHECK(r.n_cached_tokens == 0);
    CHECK(r.n_generated_tokens == 24);
    CHECK(s.tokens == greedy_reference(prompt, 24));
    CHECK(s.text == detokenize(s.tokens));
    CHECK(r.time_to_first_token_ms > 0.0);
    CHECK(r.prompt_ms > 0.0);
    // The context holds the prompt and every generated token but the last (not evaluated).
    size_t n = 0;
    const int32_t* cached = qwen_context_tokens(ctx, &n);
    REQUIRE(n == prompt.size() + 23);
    CHECK(std::equal(prompt.begin(), prompt.end(), cached));
    CHECK(std::equal(s.tokens.begin(), s.tokens.end() - 1, cached + prompt.size()));
}

TEST_CASE("the next turn evaluates only the tokens after the cached prefix") {
    const auto prompt = bytes_to_tokens("<turn one>");
    Ctx ctx;
    Stream first;
    run(ctx, prompt, first, 10);
    auto prompt2 = prompt;
    prompt2.insert(prompt2.end(), first.tokens.begin(), first.tokens.end());
    const auto more = bytes_to_tokens(" and then turn two");
    prompt2.insert(prompt2.end(), more.begin(), more.end());

    Stream second;
    const auto r = run(ctx, prompt2, second, 12);
    CHECK(r.n_cached_tokens == prompt.size() + first.tokens.size() - 1);
    CHECK(second.tokens == greedy_reference(prompt2, 12));

    // An edited history: only the common prefix is kept.
    auto edited = prompt;
    edited.push_back('!');
    Stream third;
    const auto r3 = run(ctx, edited, third, 4);
    CHECK(r3.n_cached_tokens == prompt.size());
    CHECK(third.tokens == greedy_reference(edited, 4));

    // The same prompt again: everything but the last token is reused.
    Stream again;
    CHECK(run(ctx, edited, again, 4).n_cached_tokens == edited.size() - 1);
    CHECK(again.tokens == third.tokens);
}

TEST_CASE("a stop string ends generation and is not output, even across tokens") {
    const auto prompt = bytes_to_tokens("stop strings");
    Ctx ctx;
    Stream full;
    run(ctx, prompt, full, 40);
    // A 3-byte stop taken from the middle of the output (every token is one byte here, so it
    // straddles three tokens), starting and ending on character boundaries.
    auto boundary = [&](size_t i) { return i >= full.text.size() || (full.text[i] & 0xC0) != 0x80; };
    size_t at = 5;
    while (at < full.text.size() && !(boundary(at) && boundary(at + 3))) ++at;
    REQUIRE(at + 3 <= full.text.size());
    const std::string stop = full.text.substr(at, 3);
    const size_t first = full.text.find(stop);

    Ctx ctx2;
    Stream s;
    const auto r = run(ctx2, prompt, s, 40, QWEN_GENERATE_IGNORE_EOS, {"never appears \x01", stop.c_str()});
    CHECK(r.finish_reason == QWEN_FINISH_STOP_STRING);
    CHECK(s.text == full.text.substr(0, first));
    CHECK(s.text.find(stop) == std::string::npos);
}

TEST_CASE("the callback, max_tokens and a full context end generation") {
    const auto prompt = bytes_to_tokens("0123456789");
    {
        Ctx ctx;
        Stream s;
        s.stop_after = 3;
        const auto r = run(ctx, prompt, s, 0);
        CHECK(r.finish_reason == QWEN_FINISH_CALLBACK);
        CHECK(r.n_generated_tokens == 3);
    }
    {
        Ctx ctx(16);
        Stream s;
        const auto r = run(ctx, prompt, s, 0);
        CHECK(r.finish_reason == QWEN_FINISH_CONTEXT_FULL);
        CHECK(r.n_generated_tokens == 7);  // 6 more fit in the cache; the 7th is sampled last
        CHECK(qwen_context_n_past(ctx) == 16);
    }
    {
        // The prompt alone does not fit.
        Ctx ctx(8);
        Stream s;
        run(ctx, prompt, s, 1, QWEN_GENERATE_IGNORE_EOS, {}, QWEN_ERR_CONTEXT_FULL);
        CHECK(std::string(qwen_last_error()).find("context") != std::string::npos);
    }
}

TEST_CASE("the model's end-of-turn token ends generation unless IGNORE_EOS") {
    // Whether greedy decoding of the tiny random model meets <|im_end|> or <|endoftext|>
    // depends on its weights: follow the reference and expect the stop exactly where the
    // first one appears (the sampler tests force one with a logit bias).
    const auto prompt = bytes_to_tokens("eos");
    Ctx ctx;
    Stream s;
    const auto r = run(ctx, prompt, s, 64, 0);
    const auto ref = greedy_reference(prompt, 64);
    size_t eos_at = ref.size();
    for (size_t i = 0; i < ref.size(); ++i)
        if (ref[i] == kImEnd || ref[i] == kEndOfText) {
            eos_at = i;
            break;
        }
    if (eos_at < ref.size()) {
        CHECK(r.finish_reason == QWEN_FINISH_EOS);
        CHECK(r.n_generated_tokens == eos_at + 1);
    } else {
        CHECK(r.finish_reason == QWEN_FINISH_LENGTH);
    }
    CHECK(std::equal(s.tokens.begin(), s.tokens.end(), ref.begin()));
}

TEST_CASE("abort: requested before, from the callback, and from another thread") {
    const auto prompt = bytes_to_tokens("abort me");
    {
        Ctx ctx;
        qwen_context_abort(ctx);
        Stream s;
        const auto r = run(ctx, prompt, s, 10);
        CHECK(r.finish_reason == QWEN_FINISH_ABORTED);
        CHECK(r.n_generated_tokens == 0);
        CHECK(qwen_context_n_past(ctx) == 0);  // the aborted prompt left nothing behind
        Stream again;  // the request was consumed
        CHECK(run(ctx, prompt, again, 3).finish_reason == QWEN_FINISH_LENGTH);
    }
    {
        Ctx ctx;
        Stream s;
        s.abort_ctx = ctx;
        s.abort_after = 2;
        const auto r = run(ctx, prompt, s, 10);
        CHECK(r.finish_reason == QWEN_FINISH_ABORTED);
        CHECK(r.n_generated_tokens == 2);
    }
    {
        Ctx ctx(4096);
        std::atomic<bool> started{false};
        Stream s;
        std::thread stopper([&] {
            while (!started.load()) std::this_thread::yield();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            qwen_context_abort(ctx);
        });
        qwen_generate_params p = qwen_generate_default_params();
        p.max_tokens = 0;
        p.flags = QWEN_GENERATE_IGNORE_EOS;
        p.callback = [](const qwen_generate_event*, void* ud) {
            static_cast<std::atomic<bool>*>(ud)->store(true);
            return 0;
        };
        p.user_data = &started;
        qwen_generate_result r{};
        r.struct_size = sizeof r;
        CHECK(qwen_generate(ctx, nullptr, prompt.data(), prompt.size(), &p, &r) == QWEN_OK);
        stopper.join();
        CHECK(r.finish_reason == QWEN_FINISH_ABORTED);
        CHECK(r.n_generated_tokens < 4096 - prompt.size());
    }
}

TEST_CASE("contexts on one model generate in parallel threads as they do serially") {
    const std::vector<std::string> prompts = {"first conversation", "second one", "a third, longer prompt here"};
    std::vector<std::vector<int32_t>> serial, parallel(prompts.size());
    for (const auto& p : prompts) {
        Ctx ctx;
        Stream s;
        run(ctx, bytes_to_tokens(p), s, 16);
        serial.push_back(s.tokens);
    }
    std::vector<std::thread> threads;
    for (size_t i = 0; i < prompts.size(); ++i)
        threads.emplace_back([&, i] {
            qwen_context* c = nullptr;
            qwen_context_params cp = qwen_context_default_params();
            cp.n_ctx = 256;
            cp.n_threads = 1;
            if (qwen_context_create(tiny_chat_model(), &cp, &c) != QWEN_OK) return;
            Stream s;
            qwen_generate_params p = qwen_generate_default_params();
            p.max_tokens = 16;
            p.flags = QWEN_GENERATE_IGNORE_EOS;
            p.callback = Stream::cb;
            p.user_data = &s;
            const auto prompt = bytes_to_tokens(prompts[i]);
            if (qwen_generate(c, nullptr, prompt.data(), prompt.size(), &p, nullptr) == QWEN_OK)
                parallel[i] = s.tokens;
            qwen_context_free(c);
        });
    for (auto& t : threads) t.join();
    CHECK(parallel == serial);
}

TEST_CASE("generation arguments are checked") {
    Ctx ctx;
    const auto prompt = bytes_to_tokens("x");
    qwen_generate_params p = qwen_generate_default_params();
    CHECK(p.max_tokens == 512);
    CHECK(p.logprobs == -1);
    CHECK(qwen_generate(nullptr, nullptr, prompt.data(), 1, &p, nullptr) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("qwen_generate") != std::string::npos);
    CHECK(qwen_generate(ctx, nullptr, prompt.data(), 0, &p, nullptr) == QWEN_ERR_INVALID_ARGUMENT);
    const int32_t bad[] = {1, kVocab};
    CHECK(qwen_generate(ctx, nullptr, bad, 2, &p, nullptr) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("prompt token 1") != std::string::npos);

    auto expect_bad = [&](qwen_generate_params q, const char* needle) {
        CHECK(qwen_generate(ctx, nullptr, prompt.data(), 1, &q, nullptr) == QWEN_ERR_INVALID_ARGUMENT);
        CHECK_MESSAGE(std::string(qwen_last_error()).find(needle) != std::string::npos, std::string(qwen_last_error()));
    };
    qwen_generate_params q = p;
    q.max_tokens = -1;
    expect_bad(q, "max_tokens");
    q = p;
    q.logprobs = QWEN_MAX_TOP_LOGPROBS + 1;
    expect_bad(q, "logprobs");
    q = p;
    q.flags = 0x80;
    expect_bad(q, "flags");
    const char* empty[] = {""};
    q = p;
    q.stop = empty;
    q.n_stop = 1;
    expect_bad(q, "stop[0]");
    q = p;
    q.n_stop = QWEN_MAX_STOP_STRINGS + 1;
    expect_bad(q, "n_stop");
    q = p;
    q.struct_size = 0;
    expect_bad(q, "struct_size");

    qwen_generate_result r{};
    r.struct_size = 0;
    CHECK(qwen_generate(ctx, nullptr, prompt.data(), 1, &p, &r) == QWEN_ERR_INVALID_ARGUMENT);
    // An older caller's smaller result struct gets only its own bytes written.
    struct {
        qwen_generate_result r;
        unsigned char guard[8];
    } small;
    std::memset(&small, 0xAB, sizeof small);
    small.r.struct_size = offsetof(qwen_generate_result, n_cached_tokens);
    p.max_tokens = 2;
    REQUIRE(qwen_generate(ctx, nullptr, prompt.data(), 1, &p, &small.r) == QWEN_OK);
    CHECK(small.r.finish_reason == QWEN_FINISH_LENGTH);
    CHECK(small.r.n_prompt_tokens == 1);
    const auto* tail = reinterpret_cast<const unsigned char*>(&small.r) + offsetof(qwen_generate_result, n_cached_tokens);
    CHECK(tail[0] == 0xAB);
}
