// Google Benchmark entry point for the hot-path micro benchmarks (bench/micro/*_bench.cpp).
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
