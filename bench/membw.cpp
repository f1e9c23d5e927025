// membw: the machine's sustained memory read bandwidth, the ceiling of a decode step (which
// streams every weight once). Reads a buffer far larger than the caches with all threads
// (OpenMP), several times, and prints the best rate in GB/s (10^9 bytes/s) as one number.
// bench/compare.py builds and runs it to express decode speed as a share of the roofline.
//
// usage: membw [MiB (default 1024)] [passes (default 10)]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
    const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1024;
    const int passes = argc > 2 ? std::atoi(argv[2]) : 10;
    const size_t n = mib * (1u << 20) / sizeof(float);
    float* buf = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
    if (!buf) return 1;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) buf[i] = float(i & 1023);  // first touch by the reading thread

    double best = 0.0, sink = 0.0;
    for (int p = 0; p < passes; ++p) {
        const auto t0 = std::chrono::steady_clock::now();
        double total = 0.0;
#pragma omp parallel reduction(+ : total)
        {
            __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;  // four independent sums
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 32) {  // 128 bytes a step
                a = _mm256_add_ps(a, _mm256_load_ps(buf + i));
                b = _mm256_add_ps(b, _mm256_load_ps(buf + i + 8));
                c = _mm256_add_ps(c, _mm256_load_ps(buf + i + 16));
                d = _mm256_add_ps(d, _mm256_load_ps(buf + i + 24));
            }
            float lanes[8];
            _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
            for (float l : lanes) total += double(l);
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, double(n * sizeof(float)) / secs / 1e9);
        sink += total;
    }
    std::printf("%.2f\n", best);
    std::free(buf);
    return sink == -1.0;  // keeps the sums alive
}
