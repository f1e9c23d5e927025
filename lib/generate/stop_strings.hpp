// Caller-given stop strings over streamed text. Generated text goes in piece by piece; what
// comes out is the text that can no longer be part of a stop string, so a stop string never
// leaks into the output, even when it straddles tokens. Matching is on bytes of the
// detokenized text (the pieces are whole UTF-8 characters, and so is what is released).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qwen {

class StopStrings {
public:
    explicit StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {}

    // Adds `piece` and appends to `out` the text that is now safe to release. Returns true
    // when a stop string appeared: `out` then ends just before it and the rest is dropped.
    bool push(std::string_view piece, std::string& out);
    // Appends everything still held back (the stream ended without a stop string).
    void flush(std::string& out);
    bool empty() const { return stops_.empty(); }

private:
    std::vector<std::string> stops_;
    std::string held_;  // text that might still begin a stop string
};

}  // namespace qwen
