#pragma once
// The counter convention: every component keeps a plain `Stats` struct of uint64_t fields and
// gives it a `visit(F&&)` that calls f("name", value) for each field, so the daemon can export any
// component's counters (logs, the counters file, Prometheus text) without knowing its fields.
#include <cstdint>
#include <string_view>

namespace tunstack {

/// A monotonically increasing event count (a plain integer: the core is single-threaded).
using Counter = std::uint64_t;

/// True when T has a visit(F) that enumerates its counters.
template <class T>
concept VisitableStats = requires(const T& t) {
  t.visit([](std::string_view, std::uint64_t) {});
};

}  // namespace tunstack
