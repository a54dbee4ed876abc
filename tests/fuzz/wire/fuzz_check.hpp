#pragma once
// Shared bits of the wire fuzz targets: a hard check that aborts (so libFuzzer records a crash
// even in release builds, where assert() is gone) and byte-span comparison.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "stack/core/bytes.hpp"

namespace tunstack::fuzz {

/// Aborts with a message when `ok` is false: a round-trip or invariant violation is a bug.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

/// True when two spans hold the same bytes.
inline bool same_bytes(Bytes a, Bytes b) { return std::ranges::equal(a, b); }

}  // namespace tunstack::fuzz
