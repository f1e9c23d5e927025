#include "generate/generate.hpp"

#include "core/error.hpp"
#include "generate/stop_strings.hpp"
#include "model/context.hpp"
#include "sample/logprobs.hpp"
#include "sample/sampler.hpp"
#include "tokenizer/detokenizer.hpp"
#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <chrono>

namespace qwen {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

int32_t argmax(const float* logits, size_t n) {
    return int32_t(std::max_element(logits, logits + n) - logits);  // first of equal maxima
}

// How many leading prompt tokens the cache already holds. At least the last prompt token is
// always evaluated again, because its logits are what the first sample needs.
size_t reusable_prefix(const std::vector<int32_t>& cached, const int32_t* prompt, size_t n) {
    const size_t lim = std::min(cached.size(), n - 1);
    size_t i = 0;
    while (i < lim && cached[i] == prompt[i]) ++i;
    return i;
}

}  // namespace

std::vector<int32_t> end_of_turn_tokens(const Tokenizer& tokenizer) {
    std::vector<int32_t> ids;
    if (tokenizer.special_ids().eos >= 0) ids.push_back(tokenizer.special_ids().eos);
    for (const char* t : {"<|im_end|>", "<|endoftext|>"})
        if (int32_t id = tokenizer.token_by_text(t); id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end())
            ids.push_back(id);
    return ids;
}

qwen_generate_result generate(Context& ctx, const Tokenizer& tokenizer, Sampler* sampler, const int32_t* prompt,
                              size_t n_prompt, const GenerateOptions& opt) {
    const auto t_start = Clock::now();
    qwen_generate_result res{};
    res.struct_size = sizeof res;
    if (n_prompt == 0) fail(QWEN_ERR_INVALID_ARGUMENT, "the prompt is empty");
    if (n_prompt > ctx.n_ctx())
        fail(QWEN_ERR_CONTEXT_FULL, "the prompt has ", n_prompt, " tokens, the context holds ", ctx.n_ctx());
    const uint32_t n_vocab = ctx.model().hparams().n_vocab;
    for (size_t i = 0; i < n_prompt; ++i)
        if (prompt[i] < 0 || uint32_t(prompt[i]) >= n_vocab)
            fail(QWEN_ERR_INVALID_ARGUMENT, "prompt token ", i, " has id ", prompt[i], ", outside [0, ", n_vocab, ")");
    res.n_prompt_tokens = uint32_t(n_prompt);

    // Prompt: evaluate only what the cache does not already hold.
    const size_t reuse = reusable_prefix(ctx.tokens(), prompt, n_prompt);
    res.n_cached_tokens = uint32_t(reuse);
    ctx.truncate(uint32_t(reuse));
    try {
        ctx.eval(prompt + reuse, n_prompt - reuse, false);
    } catch (const Error& e) {
        if (e.status() != QWEN_ERR_ABORTED) throw;
        res.finish_reason = QWEN_FINISH_ABORTED;
        res.prompt_ms = ms_between(t_start, Clock::now());
        return res;
    }
    const auto t_prompt = Clock::now();
    res.prompt_ms = ms_between(t_start, t_prompt);

    // The penalties see the whole sequence, as transformers' do: the prompt, then each token.
    if (sampler) {
        sampler->clear_history();
        sampler->accept(prompt, n_prompt);
    }

    const std::vector<int32_t> eot = end_of_turn_tokens(tokenizer);
    Detokenizer detok(tokenizer, !opt.keep_special);
    StopStrings stops(opt.stop);
    std::string piece, text;
    std::vector<qwen_token_logprob> top(size_t(std::max(opt.logprobs, 0)));
    auto emit = [&](int32_t token, float logprob, size_t n_top) {
        if (!opt.callback) return false;
        qwen_generate_event ev{token, text.data(), text.size(), logprob, n_top ? top.data() : nullptr, n_top};
        return opt.callback(&ev, opt.user_data) != 0;
    };

    Clock::time_point t_first{};
    for (;;) {
        if (ctx.take_abort()) {
            res.finish_reason = QWEN_FINISH_ABORTED;
            break;
        }
        const float* logits = ctx.logits();
        const int32_t token = sampler ? sampler->sample(logits, n_vocab) : argmax(logits, n_vocab);
        if (res.n_generated_tokens++ == 0) {
            t_first = Clock::now();
            res.time_to_first_token_ms = ms_between(t_start, t_first);
        }
        float logprob = 0.0f;
        if (opt.logprobs >= 0) logprobs(logits, n_vocab, token, &logprob, top.data(), top.size());

        const bool end = !opt.ignore_eos && std::find(eot.begin(), eot.end(), token) != eot.end();
        piece.clear();
        text.clear();
        bool stopped = false;
        if (!end) {
            detok.push(token, piece);
            stopped = stops.push(piece, text);
        }
        if (emit(token, logprob, top.size())) {
            res.finish_reason = stopped ? QWEN_FINISH_STOP_STRING : QWEN_FINISH_CALLBACK;
            break;
        }
        if (end || stopped) {
            res.finish_reason = end ? QWEN_FINISH_EOS : QWEN_FINISH_STOP_STRING;
            break;
        }
        if (opt.max_tokens && res.n_generated_tokens >= opt.max_tokens) {
            res.finish_reason = QWEN_FINISH_LENGTH;
            break;
        }
        if (ctx.n_past() >= ctx.n_ctx()) {
            res.finish_reason = QWEN_FINISH_CONTEXT_FULL;
            break;
        }
        try {
            ctx.eval(&token, 1, false);
        } catch (const Error& e) {
            if (e.status() != QWEN_ERR_ABORTED) throw;
            res.finish_reason = QWEN_FINISH_ABORTED;
            break;
        }
    }

    // Release what was held back: an incomplete character, a possible start of a stop string.
    if (res.finish_reason != QWEN_FINISH_STOP_STRING) {
        piece.clear();
        text.clear();
        detok.flush(piece);
        stops.push(piece, text);
        stops.flush(text);
        if (!text.empty()) emit(-1, 0.0f, 0);
    }
    res.generate_ms = res.n_generated_tokens ? ms_between(t_first, Clock::now()) : 0.0;
    return res;
}

}  // namespace qwen
