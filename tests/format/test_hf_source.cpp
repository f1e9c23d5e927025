// Hugging Face folders: write with write_hf_folder, read back with open_hf_folder (sharded
// and not, tied and not, each float dtype), and hostile weights and indexes.
#include "hf_test_util.hpp"

using namespace qwen;
using namespace hftest;

TEST_CASE("HF folder round trip: bytes, dims and hyper-parameters survive") {
    const Qwen2Hparams h = tiny_hparams();
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16})
        for (bool tied : {true, false})
            for (uint64_t shard : {uint64_t(0), uint64_t(3000)}) {
                CAPTURE(tensor_type_name(type));
                CAPTURE(tied);
                CAPTURE(shard);
                const std::string dir = fresh_dir("roundtrip");
                TinyModel m(h, tied, type);
                write_hf_folder(dir, h, tied, m.views, {type, shard, true});
                CHECK(is_hf_folder(dir));
                CHECK(fs::exists(dir + "/model.safetensors") == (shard == 0));
                CHECK(fs::exists(dir + "/model.safetensors.index.json") == (shard != 0));
                if (shard) CHECK(shard_files(dir).size() > 1);
                for (bool mmap : {true, false}) {
                    auto src = open_hf_folder(dir, mmap);
                    const Qwen2Hparams& g = src->hparams();
                    CHECK(g.n_vocab == h.n_vocab);
                    CHECK(g.n_ctx_train == h.n_ctx_train);
                    CHECK(g.n_embd == h.n_embd);
                    CHECK(g.n_layer == h.n_layer);
                    CHECK(g.n_head == h.n_head);
                    CHECK(g.n_head_kv == h.n_head_kv);
                    CHECK(g.n_ff == h.n_ff);
                    CHECK(g.head_dim == h.head_dim);
                    CHECK(g.rms_eps == h.rms_eps);
                    CHECK(g.rope_theta == h.rope_theta);
                    CHECK(src->path() == dir);
                    REQUIRE(src->tensors().size() == m.views.size());
                    for (const TensorView& want : m.views) {
                        const TensorView* got = src->find(want.name);
                        REQUIRE_MESSAGE(got, want.name);
                        CHECK(got->type == type);
                        CHECK(got->dims == want.dims);
                        REQUIRE(got->bytes == want.bytes);
                        CHECK(std::memcmp(got->data, want.data, want.bytes) == 0);
                        const std::string where = ".safetensors, tensor '" + *gguf_to_hf_name(want.name) + "'";
                        CHECK(got->where.find(where) != std::string::npos);
                    }
                    CHECK((src->find("output.weight") != nullptr) == !tied);
                }
            }
}

TEST_CASE("HF writer converts to the requested dtype and shards by size") {
    const Qwen2Hparams h = tiny_hparams();
    TinyModel m(h, true, TensorType::F32);
    const std::string dir = fresh_dir("convert");
    write_hf_folder(dir, h, true, m.views, {TensorType::BF16, 1000, false});
    CHECK_FALSE(fs::exists(dir + "/generation_config.json"));
    const json index = json::parse(std::ifstream(dir + "/model.safetensors.index.json"));
    std::set<std::string> shards;
    for (auto& [k, v] : index["weight_map"].items()) shards.insert(v.get<std::string>());
    CHECK(shards.size() > 2);
    char first[64];
    std::snprintf(first, sizeof first, "model-00001-of-%05zu.safetensors", shards.size());
    CHECK(index["weight_map"]["model.embed_tokens.weight"] == first);
    auto src = open_hf_folder(dir);
    for (const TensorView& want : m.views) {
        const TensorView* got = src->find(want.name);
        REQUIRE(got);
        CHECK(got->type == TensorType::BF16);
        for (size_t i = 0; i < got->bytes / 2; ++i) {
            float f;
            uint16_t b;
            std::memcpy(&f, want.data + 4 * i, 4);
            std::memcpy(&b, got->data + 2 * i, 2);
            REQUIRE(b == f32_to_bf16(f));
        }
    }
    // Re-writing the same folder unsharded removes the index so the folder stays unambiguous.
    write_hf_folder(dir, h, true, m.views, {TensorType::BF16, 0, false});
    CHECK_FALSE(fs::exists(dir + "/model.safetensors.index.json"));
    CHECK(open_hf_folder(dir)->tensors().size() == m.views.size());
}

TEST_CASE("HF writer refuses inconsistent input") {
    const Qwen2Hparams h = tiny_hparams();
    TinyModel tied(h, true, TensorType::F32), untied(h, false, TensorType::F32);
    const std::string dir = fresh_dir("writer_bad");
    expect_error([&] { write_hf_folder(dir, h, false, tied.views); }, QWEN_ERR_INVALID_ARGUMENT, {"output.weight"});
    expect_error([&] { write_hf_folder(dir, h, true, untied.views); }, QWEN_ERR_INVALID_ARGUMENT, {"output.weight"});
    expect_error([&] { write_hf_folder(dir, h, true, tied.views, {TensorType::Q8_0, 0, true}); },
                 QWEN_ERR_INVALID_ARGUMENT, {"q8_0"});
    TinyModel odd = tied;
    odd.views[0].name = "blk.0.attn_qkv.weight";
    expect_error([&] { write_hf_folder(dir, h, true, odd.views); }, QWEN_ERR_INVALID_ARGUMENT, {"attn_qkv"});
    odd = tied;
    odd.views[1].bytes -= 4;
    expect_error([&] { write_hf_folder(dir, h, true, odd.views); }, QWEN_ERR_INVALID_ARGUMENT, {odd.views[1].name});
}

TEST_CASE("HF folder: hostile weights and indexes") {
    expect_open_error(fresh_dir("empty"), QWEN_ERR_IO, {"config.json"});
    expect_open_error(std::string(QWEN_BINARY_DIR) + "/test_hf/does-not-exist", QWEN_ERR_IO, {"does-not-exist"});
    CHECK_FALSE(is_hf_folder(fresh_dir("empty")));

    {
        const std::string dir = fresh_dir("noweights");
        write_file(dir + "/config.json", hf_config_json(tiny_hparams(), true, TensorType::F32));
        expect_open_error(dir, QWEN_ERR_IO, {"model.safetensors"});
        write_file(dir + "/pytorch_model.bin", "pickle");
        expect_open_error(dir, QWEN_ERR_UNSUPPORTED, {"pytorch_model.bin"});
    }
    auto none = [](SafetensorsWriter&) {};
    static float buf[16 * 32] = {};
    static int8_t ibuf[16] = {};
    expect_open_error(folder_with_weights("missing", {"model.layers.1.mlp.up_proj.weight"}, none), QWEN_ERR_FORMAT,
                      {"missing tensor 'model.layers.1.mlp.up_proj.weight'", "model.safetensors"});
    expect_open_error(folder_with_weights("shape", {"model.norm.weight"},
                                          [](SafetensorsWriter& w) {
                                              w.add_tensor("model.norm.weight", StDtype::F32, {8}, buf, 32);
                                          }),
                      QWEN_ERR_FORMAT, {"model.norm.weight", "[8]", "[16]"});
    expect_open_error(folder_with_weights("unknown_layer_tensor", {},
                                          [](SafetensorsWriter& w) {
                                              w.add_tensor("model.layers.0.self_attn.q_norm.weight", StDtype::F32,
                                                           {4}, buf, 16);
                                          }),
                      QWEN_ERR_FORMAT, {"q_norm", "not a Qwen2ForCausalLM weight"});
    expect_open_error(folder_with_weights("beyond", {},
                                          [](SafetensorsWriter& w) {
                                              w.add_tensor("model.layers.2.input_layernorm.weight", StDtype::F32,
                                                           {16}, buf, 64);
                                          }),
                      QWEN_ERR_FORMAT, {"model.layers.2.", "num_hidden_layers"});
    expect_open_error(folder_with_weights("int8", {"model.norm.weight"},
                                          [](SafetensorsWriter& w) {
                                              w.add_tensor("model.norm.weight", StDtype::I8, {16}, ibuf, 16);
                                          }),
                      QWEN_ERR_UNSUPPORTED, {"model.norm.weight", "I8"});
    // Buffers and foreign tensors transformers would not load are skipped; a stored lm_head
    // of a tied model is ignored, as transformers ties it to embed_tokens.
    auto src = open_hf_folder(folder_with_weights("ignored", {}, [](SafetensorsWriter& w) {
        w.add_tensor("model.layers.0.self_attn.rotary_emb.inv_freq", StDtype::F32, {2}, buf, 8);
        w.add_tensor("value_head.weight", StDtype::I8, {16}, ibuf, 16);
        w.add_tensor("lm_head.weight", StDtype::F32, {32, 16}, buf, sizeof buf);
    }));
    CHECK(src->find("output.weight") == nullptr);
    CHECK(src->tensors().size() == TinyModel(tiny_hparams(), true, TensorType::F32).views.size());

    // Sharded folders: the index must name plain files that hold what it says.
    const Qwen2Hparams h = tiny_hparams();
    TinyModel m(h, true, TensorType::F32);
    auto sharded = [&](const std::string& name, const std::function<void(json&)>& edit) {
        const std::string dir = fresh_dir(name);
        write_hf_folder(dir, h, true, m.views, {TensorType::F32, 2000, true});
        const std::string path = dir + "/model.safetensors.index.json";
        json index = json::parse(std::ifstream(path));
        edit(index);
        write_file(path, index.dump(2));
        return dir;
    };
    CHECK(open_hf_folder(sharded("sharded_ok", [](json&) {}))->tensors().size() == m.views.size());
    expect_open_error(sharded("traversal", [](json& j) { j["weight_map"]["model.norm.weight"] = "../x.safetensors"; }),
                      QWEN_ERR_FORMAT, {"model.safetensors.index.json", "'model.norm.weight'", "../x.safetensors"});
    expect_open_error(sharded("absolute", [](json& j) { j["weight_map"]["model.norm.weight"] = "/etc/passwd"; }),
                      QWEN_ERR_FORMAT, {"/etc/passwd"});
    expect_open_error(sharded("dotdot", [](json& j) { j["weight_map"]["model.norm.weight"] = ".."; }),
                      QWEN_ERR_FORMAT, {"not a plain file name"});
    expect_open_error(sharded("wrong_shard",
                              [](json& j) {
                                  j["weight_map"]["model.norm.weight"] = j["weight_map"]["model.embed_tokens.weight"];
                              }),
                      QWEN_ERR_FORMAT, {"'model.norm.weight'", "does not contain"});
    expect_open_error(sharded("phantom", [](json& j) { j["weight_map"]["model.extra.weight"] = "gone.safetensors"; }),
                      QWEN_ERR_IO, {"gone.safetensors"});
    expect_open_error(sharded("unlisted", [](json& j) { j["weight_map"].erase("model.norm.weight"); }),
                      QWEN_ERR_FORMAT, {"'model.norm.weight'", "not listed"});
    expect_open_error(sharded("no_map", [](json& j) { j.erase("weight_map"); }), QWEN_ERR_FORMAT, {"weight_map"});
    expect_open_error(sharded("map_type", [](json& j) { j["weight_map"]["model.norm.weight"] = 3; }), QWEN_ERR_FORMAT,
                      {"'model.norm.weight'"});
    {
        const std::string dir = sharded("truncated_shard", [](json&) {});
        const std::string shard = shard_files(dir).at(0);
        fs::resize_file(shard, fs::file_size(shard) - 3);
        expect_open_error(dir, QWEN_ERR_FORMAT, {"model-00001-of-", "past the end"});
    }
}
