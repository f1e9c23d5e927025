#include "core/team.hpp"

#include <algorithm>
#include <omp.h>
#include <sched.h>

namespace qwen {

namespace {

thread_local TeamBarrier* tl_barrier = nullptr;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Pauses before the first yield: long enough to cover the usual skew between threads at a
// barrier on a quiet machine (a few microseconds), short enough that a thread sharing its
// core gives it up quickly.
constexpr int kSpins = 2000;

}  // namespace

void TeamBarrier::wait(uint32_t n) {
    if (n <= 1) {
        claimed_.store(0, std::memory_order_relaxed);
        return;
    }
    const uint32_t gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == n - 1) {
        // The last one in: no one can be at the next barrier yet (all wait for `gen` to move),
        // and every claim before this barrier is made.
        arrived_.store(0, std::memory_order_relaxed);
        claimed_.store(0, std::memory_order_relaxed);
        generation_.store(gen + 1, std::memory_order_release);
        return;
    }
    for (int spin = 0; generation_.load(std::memory_order_acquire) == gen; ++spin) {
        if (spin < kSpins)
            cpu_relax();
        else
            sched_yield();
    }
}

bool TeamBarrier::claim(size_t total, uint32_t n, size_t min_chunk, size_t& begin, size_t& end) {
    size_t at = claimed_.load(std::memory_order_relaxed);
    for (;;) {
        if (at >= total) return false;
        const size_t left = total - at;
        const size_t chunk = std::min(left, std::max(min_chunk, left / (2 * size_t(n ? n : 1))));
        if (claimed_.compare_exchange_weak(at, at + chunk, std::memory_order_relaxed)) {
            begin = at;
            end = at + chunk;
            return true;
        }
    }
}

TeamScope::TeamScope(TeamBarrier& barrier) : previous_(tl_barrier) { tl_barrier = &barrier; }
TeamScope::~TeamScope() { tl_barrier = previous_; }

void team_barrier() {
    if (tl_barrier) {
        tl_barrier->wait(uint32_t(omp_get_num_threads()));
        return;
    }
#pragma omp barrier
}

TeamBarrier* team_barrier_of_thread() { return tl_barrier; }

}  // namespace qwen
