#!/usr/bin/env bash
# The run command: installs what is missing, builds, and runs the main job.
# Until the gateway daemon lands this runs the stack's self-check (the unit tests) and one pass
# of the hot-path benchmarks.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/scripts/deps.sh run
[ -d build ] || meson setup build -Dbuildtype=release >/dev/null
ninja -C build
build/tests/unit_tests --gtest_brief=1
build/bench/micro_bench --benchmark_min_time=0.05
