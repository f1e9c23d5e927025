#include "grammar/grammar.hpp"

#include "core/bytes.hpp"

#include <algorithm>

namespace qwen {

namespace {
constexpr uint32_t kMaxCodePoint = 0x10FFFF;
}

CharSet::CharSet(std::vector<std::pair<uint32_t, uint32_t>> ranges, bool negated) {
    std::sort(ranges.begin(), ranges.end());
    for (auto [lo, hi] : ranges) {
        if (lo > hi) continue;
        if (!ranges_.empty() && lo <= ranges_.back().second + 1)
            ranges_.back().second = std::max(ranges_.back().second, hi);
        else
            ranges_.emplace_back(lo, hi);
    }
    if (negated) {
        std::vector<std::pair<uint32_t, uint32_t>> out;
        uint32_t next = 0;
        for (auto [lo, hi] : ranges_) {
            if (lo > next) out.emplace_back(next, lo - 1);
            next = hi + 1;
        }
        if (next <= kMaxCodePoint) out.emplace_back(next, kMaxCodePoint);
        ranges_ = std::move(out);
    }
    for (auto [lo, hi] : ranges_)
        for (uint32_t c = lo; c <= hi && c < 128; ++c) ascii_[c >> 6] |= uint64_t{1} << (c & 63);
}

bool CharSet::contains_slow(uint32_t cp) const {
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), cp,
                               [](uint32_t c, const std::pair<uint32_t, uint32_t>& r) { return c < r.first; });
    return it != ranges_.begin() && cp <= std::prev(it)->second;
}

bool CharSet::intersects(uint32_t lo, uint32_t hi) const {
    // The first range that ends at or after lo must start at or before hi.
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), lo,
                               [](const std::pair<uint32_t, uint32_t>& r, uint32_t c) { return r.second < c; });
    return it != ranges_.end() && it->first <= hi;
}

uint64_t grammar_fingerprint(const Grammar& g) {
    // Every field that decides the language, each list preceded by its length so that
    // different splits of the same numbers hash differently. Rule names do not matter.
    uint64_t h = fnv1a64(nullptr, 0);
    auto add = [&](uint64_t v) { h = fnv1a64(&v, sizeof v, h); };
    add(g.root);
    add(g.elements.size());
    for (const GrammarElement& e : g.elements) add(uint64_t(e.kind) << 32 | e.value);
    add(g.rules.size());
    for (const auto& alts : g.rules) {
        add(alts.size());
        for (uint32_t a : alts) add(a);
    }
    add(g.sets.size());
    for (const CharSet& set : g.sets) {
        add(set.ranges().size());
        for (auto [lo, hi] : set.ranges()) add(uint64_t(lo) << 32 | hi);
    }
    return h ? h : 1;
}

}  // namespace qwen
