// A GGUF file as a ModelSource: Qwen2 hyper-parameters from the `qwen2.*` keys.
#pragma once

#include "format/gguf.hpp"
#include "format/model_source.hpp"

#include <memory>

namespace qwen {

// Validates general.architecture == "qwen2" and the hyper-parameters; keeps `file` alive.
std::unique_ptr<ModelSource> open_gguf_source(std::shared_ptr<const GgufFile> file);

}  // namespace qwen
