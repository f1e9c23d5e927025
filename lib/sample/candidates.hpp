// The tokens still in play during one sampling step, and the stages that narrow them.
//
// A step starts "dense": every token of the vocabulary, token i's logit being base[i] * scale,
// read straight from the caller's array (or from an own copy once a stage edits single
// logits). So temperature costs nothing, and the first truncating stage reads the vocabulary
// once and keeps what survives as a "sparse" list of candidates; the later stages then work on
// a handful of tokens. Nothing sorts the whole vocabulary: top-k selects with a k-heap, top-p
// and typical-p select the 64, then 512 best with it until the kept mass is reached, and
// beyond that bisect for the boundary logit (or key) by its mass.
//
// Order of candidates with equal logits: the lower id first, everywhere (the rule greedy
// decoding and top-k ties follow).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace qwen {

struct Candidate {
    int32_t id;
    float logit;  // or, inside a selection, the key it is selected by
};

class Candidates {
public:
    explicit Candidates(uint32_t n_vocab);  // reserves every buffer a step can need

    // Starts a step over logits[0 .. n_vocab), which are not modified and must stay valid
    // during the step. Throws Error(QWEN_ERR_INVALID_ARGUMENT) naming the index of a NaN or
    // +infinity.
    void start(const float* logits);

    bool dense() const { return dense_; }
    // Dense: the logits of every token as a writable copy (made on the first call of a step).
    float* writable();
    // Sparse: the candidates, to edit their logits.
    std::span<Candidate> candidates() {
        sorted_ = false;
        return cands_;
    }

    void scale(float s);         // every logit times s > 0 (temperature: s = 1 / T)
    void top_k(size_t k);        // keep the k largest logits
    void top_p(double p);        // keep the smallest most-likely set with probability >= p
    void min_p(float p);         // keep tokens with probability >= p * the largest
    void typical(double mass);   // locally typical set (Meister et al.), as transformers

    // The largest logit's token, the lower id on ties. Throws if every token is banned.
    int32_t argmax() const;
    // Draws a token with probability softmax(logits), from u uniform in [0, 1).
    int32_t draw(double u);
    // The final distribution: (token, probability > 0), most likely first, ties by id.
    void distribution(std::vector<std::pair<int32_t, float>>& out);

private:
    float logit(size_t i) const { return dense_ ? base_[i] * scale_ : cands_[i].logit; }
    size_t size() const { return dense_ ? n_ : cands_.size(); }
    // Largest logit; throws when it is -inf (all banned) or +inf (overflowed).
    float max_logit() const;
    // Dense: sum of exp(logit - ymax) in double; also fills block_sums_.
    double dense_sum_exp(float ymax);
    // Sparse: weights_[i] = exp(logit - ymax); returns their sum in double.
    double sparse_weights(float ymax);
    // The k best tokens by key(logit), best first (ties: the lower id), into sel_: from the
    // dense vocabulary or from the candidates. One pass with a heap of k: O(n + k log k log n)
    // for logits in random order; for k > n / 8 a sort of all n.
    template <class Key>
    void select(size_t k, Key key);
    // The key b at which the current tokens, in (key desc, id asc) order, first reach a mass
    // (weight exp(logit - ymax)) of `target`, and in `above` the mass of the keys above b;
    // fills keys_ and weights_. By bisection over the floats, each step one vectorized pass:
    // ~32 passes, for when the kept set is too large for a heap.
    template <class Key>
    float mass_bound(Key key, float ymax, double target, double& above);
    // The selection as the new candidates.
    void take_selection(size_t k);

    uint32_t n_;
    bool dense_ = true;
    const float* base_ = nullptr;
    float scale_ = 1.0f;
    std::vector<float> copy_;
    std::vector<Candidate> cands_;
    bool sorted_ = false;  // cands_ in (logit desc, id asc) order
    struct Keyed {
        float key;
        float logit;
        int32_t id;
    };
    std::vector<Keyed> sel_;
    std::vector<float> keys_;
    std::vector<float> weights_;
    std::vector<double> block_sums_;
};

}  // namespace qwen
