// Barriers for the threads of a forward pass that stay fast when the machine is busy.
//
// A forward pass is one OpenMP parallel region with a barrier after every step (~10 per
// layer). libgomp's barrier spins for up to GOMP_SPINCOUNT (300,000 pauses, milliseconds)
// before it sleeps; when other processes hold the cores, a spinning thread can keep the one
// it waits for off the CPU, and a barrier can cost a scheduler time slice: decode on 2
// threads went from ~11 to 140-390 ms per token beside a compiler and a busy loop. These
// barriers spin briefly, then yield the core (as llama.cpp's thread pool does); measured in
// docs/ARCHITECTURE.md ("one OpenMP parallel region per evaluation").
//
// A region opts in with a TeamScope on every thread; without one (tests that run the ops in
// a plain `omp parallel`, or calls outside any region) the functions fall back to OpenMP's
// own constructs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <omp.h>

namespace qwen {

class TeamBarrier {
public:
    // Blocks until `n` threads have arrived. What each thread wrote before arriving is
    // visible to all of them after.
    void wait(uint32_t n);
    void* slot = nullptr;  // team_single()'s result

    // Work sharing between two barriers: the threads of a team of `n` call claim() until it
    // returns false, and each call hands the caller the next items [begin, end) of `total`
    // in shrinking chunks (guided: an n-th of half of what is left, at least `min_chunk`), so
    // a thread that an equal share would leave waiting (on memory, or on a busy machine
    // without its core) takes over what the slower one has not reached. Every barrier
    // restarts the count: a loop of claims must start after a barrier, run to its end on
    // every thread of the team, and be followed by a barrier.
    bool claim(size_t total, uint32_t n, size_t min_chunk, size_t& begin, size_t& end);

private:
    alignas(64) std::atomic<uint32_t> arrived_{0};
    alignas(64) std::atomic<uint32_t> generation_{0};
    alignas(64) std::atomic<size_t> claimed_{0};
};

// Makes `barrier` the team barrier of the calling thread while it lives: construct one on
// every thread at the start of the parallel region, with the same barrier object.
class TeamScope {
public:
    explicit TeamScope(TeamBarrier& barrier);
    ~TeamScope();
    TeamScope(const TeamScope&) = delete;
    TeamScope& operator=(const TeamScope&) = delete;

private:
    TeamBarrier* previous_;
};

// A barrier of the current team (the TeamScope's, else `omp barrier`).
void team_barrier();
// The calling thread's team barrier, or null outside a TeamScope.
TeamBarrier* team_barrier_of_thread();

// Runs f() on one thread of the team and returns its result (a pointer) on every thread,
// after a barrier: OpenMP's `single copyprivate`, on the team barrier when there is one.
template <class T, class F>
T* team_single(F&& f) {
    if (TeamBarrier* b = team_barrier_of_thread()) {
        if (omp_get_thread_num() == 0) b->slot = const_cast<void*>(static_cast<const void*>(f()));
        team_barrier();
        // Safe to read until thread 0 writes the slot again: that is after the next barrier,
        // which this thread reaches only after reading.
        return static_cast<T*>(b->slot);
    }
    T* shared = nullptr;
#pragma omp single copyprivate(shared)
    shared = f();
    return shared;
}

}  // namespace qwen
