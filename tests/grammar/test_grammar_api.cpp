// The structured-output parts of the C API: samplers with a grammar or a JSON Schema on a
// tiny synthetic model with Qwen2.5's real vocabulary, their errors, and the text functions
// (schema and tools grammars, tool-call parsing) with the buffer protocol.
#include <qwen/qwen.h>

#include "api/handles.hpp"
#include "format/gguf.hpp"
#include "format/gguf_source.hpp"
#include "grammar/token_mask.hpp"
#include "model/model.hpp"
#include "sample/sampler.hpp"
#include "synth/synth_model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "../tokenizer/oracle.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// A tiny model (random weights, 151,936 rows) with the real tokenizer; null without oracles.
qwen_model* model() {
    static std::unique_ptr<qwen_model> m = []() -> std::unique_ptr<qwen_model> {
        if (!qwen::test::have_oracle()) return nullptr;
        const std::string dir = std::string(QWEN_BINARY_DIR) + "/test_grammar_api";
        fs::create_directories(dir);
        const qwen::SynthSpec spec = qwen::synth_spec("tiny");
        qwen::synth_gguf_writer(spec, qwen::synth_weights(spec)).write(dir + "/tiny.gguf");
        auto h = std::make_unique<qwen_model>();
        h->model = std::make_unique<qwen::Model>(
            qwen::open_gguf_source(std::make_shared<const qwen::GgufFile>(dir + "/tiny.gguf")));
        h->tokenizer = qwen::Tokenizer::from_hf_json(qwen::test::qwen3_tokenizer_json(),
                                                     qwen::test::qwen3_tokenizer_config(), {151664});
        return h;
    }();
    return m.get();
}

std::string text_of(const std::vector<int32_t>& ids) { return qwen::test::qwen25().decode(ids, true); }

// Samples until an end-of-turn token (not included) from the model's logits after `prompt`.
std::vector<int32_t> generate(qwen_sampler* s, int max_tokens, bool* ended) {
    qwen_context* ctx = nullptr;
    REQUIRE(qwen_context_create(model(), nullptr, &ctx) == QWEN_OK);
    std::vector<int32_t> out;
    int32_t tok = 151644;  // <|im_start|>
    *ended = false;
    for (int i = 0; i < max_tokens; ++i) {
        REQUIRE(qwen_eval(ctx, &tok, 1, 0) == QWEN_OK);
        const float* logits = qwen_context_logits(ctx, nullptr);
        REQUIRE(qwen_sampler_sample(s, logits, size_t(qwen_model_n_vocab(model())), &tok) == QWEN_OK);
        if (tok == 151645 || tok == 151643) {
            *ended = true;
            break;
        }
        out.push_back(tok);
    }
    qwen_context_free(ctx);
    return out;
}

std::string call(qwen_status (*f)(const char*, char*, size_t, size_t*), const char* arg) {
    size_t len = 0;
    REQUIRE(f(arg, nullptr, 0, &len) == QWEN_ERR_BUFFER_TOO_SMALL);
    std::string out(len, '\0');
    REQUIRE(f(arg, out.data(), out.size(), &len) == QWEN_OK);
    CHECK(len == out.size());
    return out;
}

}  // namespace

TEST_CASE("sampler params: grammar and json_schema default to NULL; old structs keep working") {
    const qwen_sampler_params p = qwen_sampler_default_params();
    CHECK(p.grammar == nullptr);
    CHECK(p.json_schema == nullptr);
    if (!model()) return;
    // A caller compiled before the fields existed: whatever follows its struct is not read.
    struct {
        qwen_sampler_params p;
        char garbage[64];
    } old;
    std::memset(&old, 0x5A, sizeof old);
    qwen_sampler_params_init(&old.p, offsetof(qwen_sampler_params, grammar));
    qwen_sampler* s = nullptr;
    REQUIRE(qwen_sampler_create(model(), &old.p, &s) == QWEN_OK);
    qwen_sampler_free(s);
}

TEST_CASE("sampler with a JSON Schema: every output is valid, at high temperature") {
    if (!model()) return;
    qwen_sampler_params p = qwen_sampler_default_params();
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.json_schema = R"({"type": "object", "properties": {"id": {"type": "integer", "minimum": 1, "maximum": 99},
        "ok": {"type": "boolean"}, "name": {"type": "string", "maxLength": 8}}, "required": ["id", "ok"],
        "additionalProperties": false})";
    int complete = 0;
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        p.seed = seed;
        qwen_sampler* s = nullptr;
        REQUIRE(qwen_sampler_create(model(), &p, &s) == QWEN_OK);
        bool ended = false;
        const std::string text = text_of(generate(s, 80, &ended));
        INFO("seed ", seed, ": ", text);
        if (ended) {
            ++complete;
            const auto j = nlohmann::json::parse(text);
            REQUIRE(j.is_object());
            CHECK(j["id"].is_number_integer());
            CHECK(j["id"].get<int>() >= 1);
            CHECK(j["id"].get<int>() <= 99);
            CHECK(j["ok"].is_boolean());
            if (j.contains("name")) CHECK(j["name"].get<std::string>().size() <= 8 * 4);
            for (auto it = j.begin(); it != j.end(); ++it)
                CHECK((it.key() == "id" || it.key() == "ok" || it.key() == "name"));
        }
        qwen_sampler_free(s);
    }
    CHECK(complete > 0);
}

TEST_CASE("sampler with a GBNF grammar: greedy takes the best allowed token; accept and reset") {
    if (!model()) return;
    qwen_sampler_params p = qwen_sampler_default_params();
    p.temperature = 0;
    p.repetition_penalty = 1.0f;
    p.grammar = "root ::= (\"yes\" | \"no\") \".\"";
    qwen_sampler* s = nullptr;
    REQUIRE(qwen_sampler_create(model(), &p, &s) == QWEN_OK);
    const qwen::Tokenizer& tok = qwen::test::qwen25();
    std::vector<float> logits(151936, 0.0f);
    logits[size_t(tok.token_by_text("maybe"))] = 50.0f;  // not allowed: ignored
    logits[size_t(tok.token_by_text("no"))] = 2.0f;
    logits[size_t(tok.token_by_text("yes"))] = 1.0f;
    // Prompt tokens do not advance the grammar.
    const int32_t prompt[] = {tok.token_by_text("yes"), tok.token_by_text(".")};
    REQUIRE(qwen_sampler_accept(s, prompt, 2) == QWEN_OK);
    int32_t t = -1;
    REQUIRE(qwen_sampler_sample(s, logits.data(), logits.size(), &t) == QWEN_OK);
    CHECK(t == tok.token_by_text("no"));
    REQUIRE(qwen_sampler_sample(s, logits.data(), logits.size(), &t) == QWEN_OK);
    CHECK(t == tok.token_by_text("."));
    REQUIRE(qwen_sampler_sample(s, logits.data(), logits.size(), &t) == QWEN_OK);
    CHECK(t == 151643);  // <|endoftext|> before <|im_end|> at equal logits: the lower id
    qwen_sampler_reset(s);
    REQUIRE(qwen_sampler_sample(s, logits.data(), logits.size(), &t) == QWEN_OK);
    CHECK(t == tok.token_by_text("no"));
    // Every allowed token banned by the caller: an error, not an invalid token.
    std::vector<float> banned(151936, 0.0f);
    banned[size_t(tok.token_by_text("."))] = -INFINITY;
    CHECK(qwen_sampler_sample(s, banned.data(), banned.size(), &t) == QWEN_ERR_INVALID_ARGUMENT);
    qwen_sampler_free(s);
}

TEST_CASE("sampler grammar errors") {
    if (!model()) return;
    qwen_sampler_params p = qwen_sampler_default_params();
    qwen_sampler* s = nullptr;
    p.grammar = "root ::= \"a\" (";
    CHECK(qwen_sampler_create(model(), &p, &s) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("line 1, column 15") != std::string::npos);
    p.grammar = "root ::= \"a\"";
    p.json_schema = "{}";
    CHECK(qwen_sampler_create(model(), &p, &s) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("both set") != std::string::npos);
    p.grammar = nullptr;
    p.json_schema = R"({"type": "array", "contains": {}})";
    CHECK(qwen_sampler_create(model(), &p, &s) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("'contains'") != std::string::npos);
    p.json_schema = "{nope";
    CHECK(qwen_sampler_create(model(), &p, &s) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("json_schema") != std::string::npos);
    CHECK(s == nullptr);
}

TEST_CASE("qwen_json_schema_to_grammar, qwen_tools_grammar: buffer protocol and errors") {
    const std::string g = call(qwen_json_schema_to_grammar, R"({"type": "integer"})");
    CHECK(g.rfind("root ::= ( integer )\n", 0) == 0);
    char small[4];
    size_t len = 0;
    CHECK(qwen_json_schema_to_grammar("true", small, sizeof small, &len) == QWEN_ERR_BUFFER_TOO_SMALL);
    CHECK(len > sizeof small);
    CHECK(qwen_json_schema_to_grammar(nullptr, small, sizeof small, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_json_schema_to_grammar(R"({"type": "string", "format": "hostname"})", small, sizeof small, &len) ==
          QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("format") != std::string::npos);
    const std::string t = call(qwen_tools_grammar, R"([{"name": "f", "parameters": {"type": "object"}}])");
    CHECK(t.find("<tool_call>") != std::string::npos);
    CHECK(qwen_tools_grammar("[]", small, sizeof small, &len) == QWEN_ERR_INVALID_ARGUMENT);
}

TEST_CASE("qwen_parse_tool_calls: calls and content, as an assistant message") {
    const std::string out = call(qwen_parse_tool_calls,
                                 "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                                 "\"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\"}\n</tool_call>");
    const auto j = nlohmann::ordered_json::parse(out);
    CHECK(j["content"] == "Let me check.");
    REQUIRE(j["tool_calls"].size() == 2);
    CHECK(j["tool_calls"][0]["name"] == "get_weather");
    CHECK(j["tool_calls"][0]["arguments"]["city"] == "Paris");
    CHECK(j["tool_calls"][1]["arguments"] == nlohmann::ordered_json::object());
    const auto none = nlohmann::ordered_json::parse(call(qwen_parse_tool_calls, "plain \xFF text"));
    CHECK(none["tool_calls"].empty());
    CHECK(none["content"] == "plain \xEF\xBF\xBD text");
}

TEST_CASE("qwen_generate_text with a grammar: each call is one complete text of it") {
    if (!model()) return;
    qwen_sampler_params p = qwen_sampler_default_params();
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.grammar = "root ::= ( \"yes\" | \"no\" ) \"!\"";
    qwen_sampler* s = nullptr;
    REQUIRE(qwen_sampler_create(model(), &p, &s) == QWEN_OK);
    qwen_context* ctx = nullptr;
    REQUIRE(qwen_context_create(model(), nullptr, &ctx) == QWEN_OK);
    const std::string prompt = "<|im_start|>user\nyes or no?<|im_end|>\n<|im_start|>assistant\n";
    for (int call = 0; call < 3; ++call) {
        qwen_generate_params gp = qwen_generate_default_params();
        gp.max_tokens = 16;
        std::string text;
        gp.user_data = &text;
        gp.callback = [](const qwen_generate_event* e, void* user) {
            static_cast<std::string*>(user)->append(e->text, e->text_len);
            return 0;
        };
        qwen_generate_result r{};
        r.struct_size = sizeof r;
        REQUIRE(qwen_generate_text(ctx, s, prompt.data(), prompt.size(), &gp, &r) == QWEN_OK);
        CHECK(r.finish_reason == QWEN_FINISH_EOS);
        CHECK((text == "yes!" || text == "no!"));
    }
    qwen_context_free(ctx);
    qwen_sampler_free(s);
}

namespace {

// Samples from the context's current logits, evaluating each token, until an end-of-turn
// token (included) or max_tokens.
std::vector<int32_t> continue_sampling(qwen_context* ctx, qwen_sampler* s, int max_tokens) {
    std::vector<int32_t> out;
    for (int i = 0; i < max_tokens; ++i) {
        int32_t tok = -1;
        REQUIRE(qwen_sampler_sample(s, qwen_context_logits(ctx, nullptr), size_t(qwen_model_n_vocab(model())), &tok) ==
                QWEN_OK);
        out.push_back(tok);
        if (tok == 151645 || tok == 151643) break;
        REQUIRE(qwen_eval(ctx, &tok, 1, 0) == QWEN_OK);
    }
    return out;
}

std::vector<unsigned char> save_state(qwen_context* ctx, qwen_sampler* s) {
    size_t size = 0, len = 0;
    REQUIRE(qwen_context_state_size(ctx, s, &size) == QWEN_OK);
    std::vector<unsigned char> buf(size);
    REQUIRE(qwen_context_state_save(ctx, s, buf.data(), buf.size(), &len) == QWEN_OK);
    REQUIRE(len == size);
    return buf;
}

qwen_sampler* make_sampler(qwen_sampler_params p, const char* schema, const char* grammar) {
    p.json_schema = schema;
    p.grammar = grammar;
    qwen_sampler* s = nullptr;
    REQUIRE(qwen_sampler_create(model(), &p, &s) == QWEN_OK);
    return s;
}

}  // namespace

TEST_CASE("saved state carries the grammar's progress: a restored sampler finishes the same text") {
    if (!model()) return;
    qwen_sampler_params p = qwen_sampler_default_params();
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1.0f;
    const char* schema = R"({"type": "object", "properties": {"id": {"type": "integer"}, "tags": {"type": "array",
        "items": {"type": "string", "maxLength": 6}, "maxItems": 3}}, "required": ["id", "tags"],
        "additionalProperties": false})";
    int compared = 0;
    for (uint64_t seed = 1; seed <= 4; ++seed) {
        p.seed = seed;
        qwen_sampler* s = make_sampler(p, schema, nullptr);
        qwen_context* ctx = nullptr;
        REQUIRE(qwen_context_create(model(), nullptr, &ctx) == QWEN_OK);
        const int32_t start = 151644;  // <|im_start|>
        REQUIRE(qwen_eval(ctx, &start, 1, 0) == QWEN_OK);
        const std::vector<int32_t> head = continue_sampling(ctx, s, 5);
        if (head.back() == 151645 || head.back() == 151643) {  // too short to cut
            qwen_context_free(ctx);
            qwen_sampler_free(s);
            continue;
        }
        const auto state = save_state(ctx, s);
        const std::vector<int32_t> tail = continue_sampling(ctx, s, 80);

        qwen_context* ctx2 = nullptr;
        REQUIRE(qwen_context_create(model(), nullptr, &ctx2) == QWEN_OK);
        qwen_sampler* s2 = make_sampler(p, schema, nullptr);
        REQUIRE(qwen_context_state_load(ctx2, s2, state.data(), state.size()) == QWEN_OK);
        const std::vector<int32_t> tail2 = continue_sampling(ctx2, s2, 80);
        INFO("seed ", seed, ": ", text_of(head), " | ", text_of(tail));
        CHECK(tail2 == tail);
        if (tail.back() == 151645 || tail.back() == 151643) {
            std::vector<int32_t> all = head;
            all.insert(all.end(), tail.begin(), tail.end() - 1);
            const auto j = nlohmann::json::parse(text_of(all));
            CHECK(j["id"].is_number_integer());
            CHECK(j["tags"].is_array());
        }
        ++compared;

        // Another grammar, or none, refuses the state and keeps its own (fresh) progress.
        qwen_sampler* other = make_sampler(p, R"({"type": "array"})", nullptr);
        CHECK(qwen_context_state_load(ctx2, other, state.data(), state.size()) == QWEN_ERR_FORMAT);
        CHECK(std::string(qwen_last_error()).find("another grammar") != std::string::npos);
        int32_t tok = -1;
        REQUIRE(qwen_sampler_sample(other, std::vector<float>(151936, 0.0f).data(), 151936, &tok) == QWEN_OK);
        CHECK(text_of({tok}).find('[') == 0);  // still at the start of its array
        qwen_sampler* plain = make_sampler(p, nullptr, nullptr);
        CHECK(qwen_context_state_load(ctx2, plain, state.data(), state.size()) == QWEN_ERR_FORMAT);
        CHECK(std::string(qwen_last_error()).find("with a grammar") != std::string::npos);
        // And a state without a grammar does not load into a constrained sampler.
        const auto plain_state = save_state(ctx2, plain);
        CHECK(qwen_context_state_load(ctx2, s2, plain_state.data(), plain_state.size()) == QWEN_ERR_FORMAT);
        CHECK(std::string(qwen_last_error()).find("without a grammar") != std::string::npos);

        for (qwen_sampler* x : {s, s2, other, plain}) qwen_sampler_free(x);
        qwen_context_free(ctx);
        qwen_context_free(ctx2);
    }
    CHECK(compared >= 2);
}

TEST_CASE("constrained samplers of one model share its grammar vocabulary") {
    if (!model()) return;
    qwen_sampler_params p = qwen_sampler_default_params();
    qwen_sampler* a = make_sampler(p, nullptr, "root ::= \"a\"");
    qwen_sampler* b = make_sampler(p, R"({"type": "integer"})", nullptr);
    CHECK(&a->sampler->grammar()->vocab() == &b->sampler->grammar()->vocab());
    qwen_sampler_free(a);
    qwen_sampler_free(b);
}
