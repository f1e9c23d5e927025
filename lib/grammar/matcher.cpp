#include "grammar/matcher.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <span>

namespace qwen {

namespace {

// Smallest code point of each UTF-8 length (shorter encodings are overlong, hence invalid).
constexpr uint32_t kMinOfLength[5] = {0, 0, 0x80, 0x800, 0x10000};

// Bounds the parse stacks of one state (in words). An ambiguous grammar can keep a number of
// parses alive that grows with every character, or fork exponentially in one expansion; real
// grammars (JSON nested a thousand deep included) stay far below.
constexpr size_t kMaxStackWords = size_t{1} << 16;

// Sorts the flat stacks and drops duplicates (ambiguous grammars reach one position twice).
void canonicalize(std::vector<uint32_t>& flat, std::vector<std::span<const uint32_t>>& spans,
                  std::vector<uint32_t>& tmp) {
    spans.clear();
    for (size_t i = 0; i < flat.size(); i += flat[i] + 1) spans.emplace_back(flat.data() + i + 1, flat[i]);
    if (spans.size() < 2) return;
    auto less = [](std::span<const uint32_t> a, std::span<const uint32_t> b) {
        return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
    };
    std::sort(spans.begin(), spans.end(), less);
    tmp.clear();
    for (size_t i = 0; i < spans.size(); ++i) {
        if (i > 0 && std::ranges::equal(spans[i], spans[i - 1])) continue;
        tmp.push_back(uint32_t(spans[i].size()));
        tmp.insert(tmp.end(), spans[i].begin(), spans[i].end());
    }
    flat.swap(tmp);
}

}  // namespace

GrammarStepper::GrammarStepper(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {}

void GrammarStepper::expand(std::vector<uint32_t>& s, std::vector<uint32_t>& out, size_t depth) const {
    const Grammar& g = *grammar_;
    for (;;) {
        if (!s.empty()) {
            const uint32_t p = s.back();
            const GrammarElement e = g.elements[p];
            if (e.kind == GrammarElement::End) {
                s.pop_back();
                continue;
            }
            if (e.kind == GrammarElement::Rule) {
                // The return address is the next element, left out when the reference ends
                // its alternative (tail position), so loops like x* keep a constant depth.
                s.pop_back();
                if (g.elements[p + 1].kind != GrammarElement::End) s.push_back(p + 1);
                if (scratch_.size() <= depth) scratch_.resize(depth + 1);
                for (uint32_t start : g.rules[e.value]) {
                    std::vector<uint32_t>& t = scratch_[depth];
                    t.assign(s.begin(), s.end());
                    t.push_back(start);
                    expand(t, out, depth + 1);
                }
                return;
            }
        }
        if (out.size() + s.size() + 1 > kMaxStackWords)
            fail(QWEN_ERR_INPUT_TOO_LARGE, "grammar: more than ", kMaxStackWords,
                 " words of parse stacks at once: the grammar is too ambiguous (or nests too deep) to follow");
        out.push_back(uint32_t(s.size()));
        out.insert(out.end(), s.begin(), s.end());
        return;
    }
}

GrammarState GrammarStepper::initial() const {
    GrammarState st;
    std::vector<uint32_t> s;
    for (uint32_t start : grammar_->rules[grammar_->root]) {
        s.assign(1, start);
        expand(s, st.stacks, 0);
    }
    canonicalize(st.stacks, spans_, tmp_);
    return st;
}

void GrammarStepper::advance_char(const GrammarState& in, uint32_t cp, GrammarState& out) const {
    const Grammar& g = *grammar_;
    const std::vector<uint32_t>& flat = in.stacks;
    if (scratch_.empty()) scratch_.resize(1);
    // scratch_[0] is this function's; expand() uses the depths above it.
    for (size_t i = 0; i < flat.size(); i += flat[i] + 1) {
        const uint32_t n = flat[i];
        if (n == 0) continue;
        const uint32_t top = flat[i + n];
        if (!g.sets[g.elements[top].value].contains(cp)) continue;
        std::vector<uint32_t>& s = scratch_[0];
        s.assign(flat.begin() + std::ptrdiff_t(i + 1), flat.begin() + std::ptrdiff_t(i + n));
        s.push_back(top + 1);
        expand(s, out.stacks, 1);
    }
    canonicalize(out.stacks, spans_, tmp_);
}

bool GrammarStepper::advance(const GrammarState& in, uint8_t b, GrammarState& out) const {
    out.stacks.clear();
    out.partial = 0;
    out.left = 0;
    out.length = 0;
    uint32_t value;
    uint8_t left, length;
    if (in.left == 0) {
        if (b < 0x80) {
            advance_char(in, b, out);
            return !out.stacks.empty();
        }
        length = b >= 0xF8 ? 0 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
        if (length == 0) return false;  // a continuation byte, an overlong or invalid lead
        value = b & (0x7Fu >> length);
        left = uint8_t(length - 1);
    } else {
        if ((b & 0xC0) != 0x80) return false;
        value = (in.partial << 6) | (b & 0x3Fu);
        left = uint8_t(in.left - 1);
        length = in.length;
        if (left == 0) {
            if (value < kMinOfLength[length] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return false;
            advance_char(in, value, out);
            return !out.stacks.empty();
        }
    }
    // Inside a character: the code points still possible, and the parses that can take one.
    const uint32_t shift = 6u * left;
    const uint32_t lo = std::max(value << shift, kMinOfLength[length]);
    const uint32_t hi = std::min(value << shift | ((1u << shift) - 1), 0x10FFFFu);
    if (lo > hi || (lo >= 0xD800 && hi <= 0xDFFF)) return false;
    const Grammar& g = *grammar_;
    const std::vector<uint32_t>& flat = in.stacks;
    for (size_t i = 0; i < flat.size(); i += flat[i] + 1) {
        const uint32_t n = flat[i];
        if (n == 0 || !g.sets[g.elements[flat[i + n]].value].intersects(lo, hi)) continue;
        out.stacks.insert(out.stacks.end(), flat.begin() + std::ptrdiff_t(i), flat.begin() + std::ptrdiff_t(i + n + 1));
    }
    out.partial = value;
    out.left = left;
    out.length = length;
    return !out.stacks.empty();
}

bool GrammarStepper::accepting(const GrammarState& s) {
    if (s.left != 0) return false;
    for (size_t i = 0; i < s.stacks.size(); i += s.stacks[i] + 1)
        if (s.stacks[i] == 0) return true;
    return false;
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar)
    : stepper_(std::move(grammar)), state_(stepper_.initial()) {}

bool GrammarMatcher::accept(std::string_view bytes) {
    const GrammarState* cur = &state_;
    for (size_t i = 0; i < bytes.size(); ++i) {
        GrammarState& out = next_[i & 1];
        if (!stepper_.advance(*cur, uint8_t(bytes[i]), out)) return false;
        cur = &out;
    }
    if (cur != &state_) state_ = *cur;
    return true;
}

}  // namespace qwen
