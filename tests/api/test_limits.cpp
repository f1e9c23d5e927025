// Resource limits: hostile sizes in a model file, a 10 MB prompt, a 32,768-token context, a
// full context, grammars and JSON that explode. Each ends in a clear status (or works) without
// a large allocation, and what was in use stays usable.
#include "long_context_model.hpp"

#include <cstring>
#include <fstream>

#include <sys/resource.h>
#include <unistd.h>

using namespace qwen::test;

namespace {

// A GGUF header (v3) whose only key is `key` of type array, then `tail`.
std::string gguf_with_array(uint32_t elem_type, uint64_t count, const std::string& tail) {
    std::string s = "GGUF";
    auto put = [&s](const auto& v) { s.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(uint32_t(3));
    put(uint64_t(0));  // tensors
    put(uint64_t(1));  // key/values
    put(uint64_t(1));
    s += "k";
    put(uint32_t(9));  // array
    put(elem_type);
    put(count);
    return s + tail;
}

// Caps the address space at what is mapped now plus `extra` while alive, so that a large
// allocation fails instead of being granted lazily. Not under the sanitizers, whose shadow
// memory is reserved up front in terabytes.
class AddressSpaceCap {
public:
    explicit AddressSpaceCap(size_t extra) {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
        size_t pages = 0;
        std::ifstream("/proc/self/statm") >> pages;
        active_ = pages > 0 && getrlimit(RLIMIT_AS, &old_) == 0;
        rlimit cap = old_;
        cap.rlim_cur = rlim_t(pages * size_t(sysconf(_SC_PAGESIZE)) + extra);
        active_ = active_ && setrlimit(RLIMIT_AS, &cap) == 0;
#else
        (void)extra;
#endif
    }
    ~AddressSpaceCap() {
        if (active_) setrlimit(RLIMIT_AS, &old_);
    }
    AddressSpaceCap(const AddressSpaceCap&) = delete;
    AddressSpaceCap& operator=(const AddressSpaceCap&) = delete;

private:
    rlimit old_{};
    bool active_ = false;
};

qwen_status load_bytes(const std::string& bytes, std::string& message) {
    const std::string path = std::string(QWEN_BINARY_DIR) + "/test_reliability_hostile.gguf";
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    qwen_model* m = nullptr;
    const qwen_status s = qwen_model_load(path.c_str(), nullptr, &m);
    message = qwen_last_error();
    CHECK(m == nullptr);
    return s;
}

size_t grammar_size(const std::string& schema, qwen_status& status) {
    size_t len = 0;
    status = qwen_json_schema_to_grammar(schema.c_str(), nullptr, 0, &len);
    return len;
}

std::string nested(const std::string& open, const std::string& inner, const std::string& close, int depth) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += open;
    s += inner;
    for (int i = 0; i < depth; ++i) s += close;
    return s;
}

}  // namespace

TEST_CASE("a model file declaring huge arrays, counts or tensors is refused without allocating") {
    std::string msg;
    // 2^32 u64 elements (32 GB) in a file of 40 bytes.
    CHECK(load_bytes(gguf_with_array(10, 1ull << 32, ""), msg) == QWEN_ERR_FORMAT);
    CHECK_MESSAGE(msg.find("truncated") != std::string::npos, msg);
    // Beyond the reader's array bound.
    CHECK(load_bytes(gguf_with_array(10, 1ull << 62, ""), msg) == QWEN_ERR_FORMAT);
    CHECK(msg.find("absurd array length") != std::string::npos);
    // 2^32 strings: each needs its 8-byte length, so the file ends long before.
    CHECK(load_bytes(gguf_with_array(8, 1ull << 32, std::string(64, '\0')), msg) == QWEN_ERR_FORMAT);
    CHECK(msg.find("truncated") != std::string::npos);

    // A tensor count no file of this size can hold.
    std::string counts = "GGUF";
    const uint32_t v3 = 3;
    const uint64_t many = 1ull << 61, none = 0;
    counts.append(reinterpret_cast<const char*>(&v3), 4);
    counts.append(reinterpret_cast<const char*>(&many), 8);
    counts.append(reinterpret_cast<const char*>(&none), 8);
    CHECK(load_bytes(counts, msg) == QWEN_ERR_FORMAT);
    CHECK(msg.find("absurd counts") != std::string::npos);

    // Dimensions whose product overflows 64 bits: 2^40 x 2^40 x 2^40.
    std::string dims = "GGUF";
    const uint64_t one = 1, name_len = 1, d = 1ull << 40;
    const uint32_t n_dims = 3;
    for (const void* p : {static_cast<const void*>(&v3)}) dims.append(static_cast<const char*>(p), 4);
    dims.append(reinterpret_cast<const char*>(&one), 8);
    dims.append(reinterpret_cast<const char*>(&none), 8);
    dims.append(reinterpret_cast<const char*>(&name_len), 8);
    dims += "t";
    dims.append(reinterpret_cast<const char*>(&n_dims), 4);
    for (int i = 0; i < 3; ++i) dims.append(reinterpret_cast<const char*>(&d), 8);
    dims += std::string(16, '\0');
    CHECK(load_bytes(dims, msg) == QWEN_ERR_FORMAT);
    CHECK(msg.find("absurd dimension") != std::string::npos);
}

TEST_CASE("a 10 MB prompt tokenizes; past the documented limit it is INPUT_TOO_LARGE") {
    qwen_model* m = long_context_model();
    std::string text;
    while (text.size() < (10u << 20)) text += "Lorem ipsum dolor sit amet, \xe2\x82\xac 12345 <|im_end|>\n";
    std::vector<int32_t> ids(text.size() + 16);
    size_t n = 0;
    REQUIRE(qwen_tokenize(m, text.data(), text.size(), 0, ids.data(), ids.size(), &n) == QWEN_OK);
    CHECK(n == text.size());  // the byte-level vocabulary: one token per byte
    std::string big((16u << 20) + 1, 'a');
    CHECK(qwen_tokenize(m, big.data(), big.size(), 0, nullptr, 0, &n) == QWEN_ERR_INPUT_TOO_LARGE);
}

TEST_CASE("a context of 32,768 tokens works; beyond the model's positions is a clear error") {
    qwen_context* c = new_context(kLongCtx);
    CHECK(qwen_context_n_ctx(c) == kLongCtx);
    const std::vector<int32_t> prompt(1024, int32_t('a'));
    CHECK(qwen_eval(c, prompt.data(), prompt.size(), 0) == QWEN_OK);
    qwen_context_free(c);

    qwen_context_params p = qwen_context_default_params();
    p.n_ctx = kLongCtx + 1;
    qwen_context* too_long = nullptr;
    CHECK(qwen_context_create(long_context_model(), &p, &too_long) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("n_ctx") != std::string::npos);
    CHECK(too_long == nullptr);
}

TEST_CASE("evaluating past n_ctx is CONTEXT_FULL; a failed or aborted call keeps the context as it was") {
    qwen_context* c = new_context(32);
    const std::vector<int32_t> fill(30, int32_t('b'));
    REQUIRE(qwen_eval(c, fill.data(), fill.size(), 0) == QWEN_OK);
    size_t rows = 0;
    const std::vector<float> before(qwen_context_logits(c, &rows), qwen_context_logits(c, &rows) + kVocab);
    const std::vector<int32_t> three(3, int32_t('c'));
    CHECK(qwen_eval(c, three.data(), three.size(), 0) == QWEN_ERR_CONTEXT_FULL);
    CHECK(std::string(qwen_last_error()).find("context full") != std::string::npos);
    CHECK(qwen_context_n_past(c) == 30);
    CHECK(std::memcmp(qwen_context_logits(c, &rows), before.data(), before.size() * sizeof(float)) == 0);
    // An aborted evaluation keeps the logits too (they used to be dropped).
    qwen_context_abort(c);
    CHECK(qwen_eval(c, three.data(), 1, QWEN_EVAL_ALL_LOGITS) == QWEN_ERR_ABORTED);
    REQUIRE(qwen_context_logits(c, &rows) != nullptr);
    CHECK(std::memcmp(qwen_context_logits(c, &rows), before.data(), before.size() * sizeof(float)) == 0);
    CHECK(qwen_eval(c, three.data(), 2, 0) == QWEN_OK);  // exactly full
    CHECK(qwen_context_n_past(c) == 32);

    // Generation stops at a full context with a finish reason, not an error.
    REQUIRE(qwen_context_truncate(c, 20) == QWEN_OK);
    qwen_generate_params g = qwen_generate_default_params();
    g.max_tokens = 0;
    g.flags = QWEN_GENERATE_IGNORE_EOS;
    qwen_generate_result r{};
    r.struct_size = sizeof r;
    CHECK(qwen_generate(c, nullptr, fill.data(), 20, &g, &r) == QWEN_OK);
    CHECK(r.finish_reason == QWEN_FINISH_CONTEXT_FULL);
    CHECK(qwen_context_n_past(c) <= 32);
    qwen_context_free(c);
}

TEST_CASE("grammars and JSON that explode are bounded or refused") {
    qwen_status s;
    // Nested arrays: twice as deep is at most four times as long (it used to double per level).
    const size_t g20 = grammar_size(nested("{\"items\": ", "{}", "}", 20), s);
    CHECK(s == QWEN_ERR_BUFFER_TOO_SMALL);
    const size_t g40 = grammar_size(nested("{\"items\": ", "{}", "}", 40), s);
    CHECK(s == QWEN_ERR_BUFFER_TOO_SMALL);
    CHECK(g40 < 4 * g20);
    // Deeper than the JSON nesting limit: a clear error, not a stack overflow.
    grammar_size(nested("{\"items\": ", "{}", "}", 100000), s);
    CHECK(s == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("deeper") != std::string::npos);
    size_t len = 0;
    const std::string call = "<tool_call>\n{\"name\": \"f\", \"arguments\": " + nested("[", "", "]", 100000) + "}\n</tool_call>";
    CHECK(qwen_parse_tool_calls(call.c_str(), nullptr, 0, &len) == QWEN_ERR_BUFFER_TOO_SMALL);  // kept as content
    const std::string msgs = "[{\"role\": \"user\", \"content\": " + nested("[", "", "]", 100000) + "}]";
    CHECK(qwen_chat_render_json(msgs.c_str(), nullptr, 0, nullptr, 0, &len) == QWEN_ERR_INVALID_ARGUMENT);

    // Grammars: deep groups, a huge alternation, left recursion.
    qwen_sampler_params p = qwen_sampler_default_params();
    qwen_sampler* smp = nullptr;
    const std::string deep = "root ::= " + nested("(", "\"a\"", ")", 100000);
    p.grammar = deep.c_str();
    s = qwen_sampler_create(long_context_model(), &p, &smp);
    CHECK((s == QWEN_OK || s == QWEN_ERR_INVALID_ARGUMENT));
    qwen_sampler_free(smp);
    std::string wide = "root ::= \"x0\"";
    for (int i = 1; i < 20000; ++i) wide += " | \"x" + std::to_string(i) + "\"";
    p.grammar = wide.c_str();
    smp = nullptr;
    CHECK(qwen_sampler_create(long_context_model(), &p, &smp) == QWEN_OK);
    qwen_sampler_free(smp);
    p.grammar = "root ::= root \"a\" | \"b\"";
    CHECK(qwen_sampler_create(long_context_model(), &p, &smp) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("left-recursive") != std::string::npos);
}

TEST_CASE("a block count the file's tensors do not back is refused without sizing anything by it") {
    // Found by fuzz_gguf: qwen2.block_count = 2^24 (the largest the reader takes) made the
    // loader reserve 1.5 GB of layer records before it found the first missing layer. With
    // the address space capped at 512 MB more than in use, that reserve fails.
    long_context_model();  // writes the file patched below
    const std::string dir = std::string(QWEN_BINARY_DIR) + "/test_reliability";
    std::ifstream in(dir + "/long-context.gguf", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    const std::string key = "qwen2.block_count";
    const size_t at = bytes.find(key);
    REQUIRE(at != std::string::npos);
    const uint32_t layers = 1u << 24;  // the value follows the key and its u32 type
    std::memcpy(&bytes[at + key.size() + 4], &layers, 4);
    std::string msg;
    {
        AddressSpaceCap cap(512u << 20);
        CHECK(load_bytes(bytes, msg) == QWEN_ERR_FORMAT);
    }
    CHECK_MESSAGE(msg.find("blk.2.") != std::string::npos, msg);
}
