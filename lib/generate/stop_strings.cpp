#include "generate/stop_strings.hpp"

#include <algorithm>

namespace qwen {

namespace {

// Length of the longest suffix of `s` that is a proper prefix of `stop`.
size_t partial_suffix(std::string_view s, std::string_view stop) {
    for (size_t n = std::min(s.size(), stop.size() - 1); n > 0; --n)
        if (s.substr(s.size() - n) == stop.substr(0, n)) return n;
    return 0;
}

// Moves back over UTF-8 continuation bytes so that a cut never splits a character.
size_t char_boundary(std::string_view s, size_t cut) {
    while (cut > 0 && cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    return cut;
}

}  // namespace

bool StopStrings::push(std::string_view piece, std::string& out) {
    if (stops_.empty()) {
        out.append(piece);
        return false;
    }
    held_.append(piece);
    // The earliest complete stop string wins.
    size_t first = std::string::npos;
    for (const auto& s : stops_) first = std::min(first, held_.find(s));
    if (first != std::string::npos) {
        out.append(held_, 0, first);
        held_.clear();
        return true;
    }
    size_t keep = 0;
    for (const auto& s : stops_) keep = std::max(keep, partial_suffix(held_, s));
    const size_t cut = char_boundary(held_, held_.size() - keep);
    out.append(held_, 0, cut);
    held_.erase(0, cut);
    return false;
}

void StopStrings::flush(std::string& out) {
    out += held_;
    held_.clear();
}

}  // namespace qwen
