// config.json, generation_config.json and the name table of Hugging Face folders.
#include "hf_test_util.hpp"

using namespace qwen;
using namespace hftest;

TEST_CASE("HF names translate both ways and reject near misses") {
    CHECK(hf_to_gguf_name("model.layers.17.self_attn.q_proj.bias")->gguf_name == "blk.17.attn_q.bias");
    CHECK(hf_to_gguf_name("model.layers.17.self_attn.q_proj.bias")->layer == 17u);
    CHECK(hf_to_gguf_name("model.embed_tokens.weight")->gguf_name == "token_embd.weight");
    CHECK(hf_to_gguf_name("lm_head.weight")->gguf_name == "output.weight");
    CHECK(*gguf_to_hf_name("blk.3.ffn_down.weight") == "model.layers.3.mlp.down_proj.weight");
    CHECK(*gguf_to_hf_name("output_norm.weight") == "model.norm.weight");
    for (const char* bad : {"model.layers.03.mlp.up_proj.weight", "model.layers.-1.mlp.up_proj.weight",
                            "model.layers..mlp.up_proj.weight", "model.layers.1.mlp.up_proj",
                            "model.layers.99999999999.mlp.up_proj.weight", "model.layers.1.self_attn.o_proj.bias"})
        CHECK_MESSAGE(!hf_to_gguf_name(bad), bad);
    CHECK(!gguf_to_hf_name("blk.0.attn_qkv.weight"));
}

TEST_CASE("config.json written matches the published Qwen2.5-0.5B-Instruct fields") {
    Qwen2Hparams h;
    h.n_vocab = 151936, h.n_ctx_train = 32768, h.n_embd = 896, h.n_layer = 24, h.n_head = 14, h.n_head_kv = 2;
    h.n_ff = 4864, h.head_dim = 64;
    const std::string text = hf_config_json(h, true, TensorType::BF16);
    CHECK(text.find("\"rms_norm_eps\": 1e-06") != std::string::npos);
    CHECK(text.find("\"rope_theta\": 1000000.0") != std::string::npos);
    const json c = json::parse(text);
    CHECK(c["architectures"] == json::array({"Qwen2ForCausalLM"}));
    CHECK(c["max_window_layers"] == 21);
    CHECK(c["sliding_window"] == 32768);
    CHECK(c["torch_dtype"] == "bfloat16");
    CHECK(c["tie_word_embeddings"] == true);
    CHECK(c["eos_token_id"] == 151645);
    CHECK(c.size() == 23);
}

TEST_CASE("generation_config.json: published values, int or list eos, range checks") {
    const std::string dir = fresh_dir("genconfig");
    CHECK_FALSE(read_generation_config(dir).has_value());
    write_file(dir + "/generation_config.json", hf_generation_config_json());
    auto g = read_generation_config(dir);
    REQUIRE(g);
    CHECK(g->do_sample);
    CHECK(g->temperature == 0.7f);
    CHECK(g->top_p == 0.8f);
    CHECK(g->top_k == 20);
    CHECK(g->repetition_penalty == 1.1f);
    CHECK(g->eos_token_ids == std::vector<int32_t>{151645, 151643});
    CHECK(g->bos_token_id == 151643);
    CHECK(g->pad_token_id == 151643);

    write_file(dir + "/generation_config.json", R"({"eos_token_id": 7, "top_k": null})");
    g = read_generation_config(dir);
    REQUIRE(g);
    CHECK(g->eos_token_ids == std::vector<int32_t>{7});
    CHECK(g->top_k == 0);
    CHECK_FALSE(g->do_sample);
    CHECK(g->temperature == 1.0f);

    for (const char* bad : {R"({"top_p": 1.5})", R"({"top_k": -1})", R"({"temperature": "hot"})",
                            R"({"eos_token_id": [1, -2]})", R"({"repetition_penalty": 0})", R"({"temperature": NaN})",
                            R"({"do_sample": 1})", R"({"temperature": 1e999})", "[]"}) {
        CAPTURE(bad);
        write_file(dir + "/generation_config.json", bad);
        expect_error([&] { (void)read_generation_config(dir); }, QWEN_ERR_FORMAT, {"generation_config.json"});
    }
}

TEST_CASE("config.json: hostile and unsupported configs name the file and the field") {
    struct Case {
        const char* name;
        std::function<void(json&)> edit;
        qwen_status status;
        std::vector<std::string> parts;
    };
    const std::vector<Case> cases = {
        {"missing_hidden", [](json& c) { c.erase("hidden_size"); }, QWEN_ERR_FORMAT, {"'hidden_size'", "missing"}},
        {"missing_vocab", [](json& c) { c.erase("vocab_size"); }, QWEN_ERR_FORMAT, {"'vocab_size'"}},
        {"zero_layers", [](json& c) { c["num_hidden_layers"] = 0; }, QWEN_ERR_FORMAT, {"'num_hidden_layers'"}},
        {"negative", [](json& c) { c["intermediate_size"] = -5; }, QWEN_ERR_FORMAT, {"'intermediate_size'", "-5"}},
        {"huge", [](json& c) { c["hidden_size"] = 1ull << 40; }, QWEN_ERR_FORMAT, {"'hidden_size'"}},
        {"float_int", [](json& c) { c["hidden_size"] = 16.5; }, QWEN_ERR_FORMAT, {"'hidden_size'", "integer"}},
        {"string_int", [](json& c) { c["num_attention_heads"] = "4"; }, QWEN_ERR_FORMAT, {"'num_attention_heads'"}},
        {"heads", [](json& c) { c["num_attention_heads"] = 3; }, QWEN_ERR_FORMAT, {"divisible"}},
        {"kv_heads", [](json& c) { c["num_key_value_heads"] = 3; }, QWEN_ERR_FORMAT, {"num_key_value_heads"}},
        {"eps_neg", [](json& c) { c["rms_norm_eps"] = -1e-6; }, QWEN_ERR_FORMAT, {"'rms_norm_eps'"}},
        {"eps_str", [](json& c) { c["rms_norm_eps"] = "tiny"; }, QWEN_ERR_FORMAT, {"'rms_norm_eps'"}},
        {"theta", [](json& c) { c["rope_theta"] = 0; }, QWEN_ERR_FORMAT, {"'rope_theta'"}},
        {"tie", [](json& c) { c["tie_word_embeddings"] = "yes"; }, QWEN_ERR_FORMAT, {"'tie_word_embeddings'"}},
        {"arch", [](json& c) { c["architectures"] = {"LlamaForCausalLM"}; c["model_type"] = "llama"; },
         QWEN_ERR_UNSUPPORTED, {"LlamaForCausalLM", "llama"}},
        {"arch_none", [](json& c) { c.erase("architectures"); c.erase("model_type"); }, QWEN_ERR_UNSUPPORTED,
         {"architecture"}},
        {"rope_scaling", [](json& c) { c["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}}; },
         QWEN_ERR_UNSUPPORTED, {"'rope_scaling'", "yarn"}},
        {"rope_type", [](json& c) { c["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 1e6}}; },
         QWEN_ERR_UNSUPPORTED, {"rope_type"}},
        {"act", [](json& c) { c["hidden_act"] = "gelu"; }, QWEN_ERR_UNSUPPORTED, {"'hidden_act'"}},
        {"head_dim", [](json& c) { c["head_dim"] = 8; }, QWEN_ERR_UNSUPPORTED, {"'head_dim'"}},
        {"window", [](json& c) { c["use_sliding_window"] = true; c["sliding_window"] = 64; }, QWEN_ERR_UNSUPPORTED,
         {"sliding_window"}},
        {"not_object", [](json& c) { c = json::array(); }, QWEN_ERR_FORMAT, {"not a JSON object"}},
    };
    for (const Case& k : cases) {
        CAPTURE(k.name);
        auto parts = k.parts;
        parts.push_back("config.json");
        expect_open_error(folder_with_config(k.name, k.edit), k.status, parts);
    }

    // NaN is not JSON: Python's json.dump writes it, nlohmann refuses it.
    const std::string dir = folder_with_config("nan", [](json&) {});
    std::string text = hf_config_json(tiny_hparams(), true, TensorType::F32);
    text.replace(text.find("1e-06"), 5, "NaN");
    write_file(dir + "/config.json", text);
    expect_open_error(dir, QWEN_ERR_FORMAT, {"config.json", "not valid JSON"});

    // Benign variations load: null rope_scaling, unknown keys, transformers 5's rope_parameters,
    // sliding window covering the whole context, absent kv heads (= heads, so MHA shapes differ:
    // expect the shape check to fire, proving the default was applied).
    auto src = open_hf_folder(folder_with_config("benign", [](json& c) {
        c["rope_scaling"] = nullptr;
        c["some_future_key"] = {1, 2, 3};
        c.erase("rope_theta");
        c["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5e5}};
        c["use_sliding_window"] = true;
        c["sliding_window"] = 128;
        c["head_dim"] = 4;
    }));
    CHECK(src->hparams().rope_theta == 5e5f);
    expect_open_error(folder_with_config("mha", [](json& c) { c.erase("num_key_value_heads"); }), QWEN_ERR_FORMAT,
                      {"k_proj", "shape"});
}
