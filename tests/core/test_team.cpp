#include "core/team.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <omp.h>
#include <vector>

using namespace qwen;

// Claims between barriers hand every item of each round to exactly one thread, in non-empty
// chunks inside [0, total), whatever the team size, the totals (0 and 1 too) and the minimum
// chunk; the count restarts at every barrier, so round after round covers its own items.
TEST_CASE("a team's claims cover every item exactly once, round after round") {
    const size_t totals[] = {0, 1, 5, 72, 1000, 9496};
    for (int threads : {1, 2, 3}) {
        for (size_t min_chunk : {size_t(1), size_t(7)}) {
            INFO("threads " << threads << ", min_chunk " << min_chunk);
            std::vector<std::vector<std::atomic<int>>> seen;
            for (size_t total : totals) seen.emplace_back(total);
            std::atomic<int> bad_chunks{0};
            TeamBarrier barrier;
#pragma omp parallel num_threads(threads)
            {
                TeamScope scope(barrier);
                const uint32_t n = uint32_t(omp_get_num_threads());
                for (size_t round = 0; round < std::size(totals); ++round) {
                    const size_t total = totals[round];
                    for (size_t lo, hi; barrier.claim(total, n, min_chunk, lo, hi);) {
                        if (lo >= hi || hi > total) ++bad_chunks;
                        for (size_t i = lo; i < hi && i < total; ++i) ++seen[round][i];
                    }
                    team_barrier();
                }
            }
            CHECK(bad_chunks == 0);
            for (size_t round = 0; round < std::size(totals); ++round) {
                size_t once = 0;
                for (const auto& s : seen[round]) once += s == 1;
                CHECK(once == totals[round]);
            }
        }
    }
}
