#pragma once
// Shared bits of the IP fuzz targets: a hard check that aborts (libFuzzer records a crash even
// in release builds, where assert() is compiled out).
#include <cstdio>
#include <cstdlib>

namespace tunstack::fuzz_ip {

/// Aborts with a message when `ok` is false: an invariant violation is a bug.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "ip fuzz invariant violated: %s\n", what);
  std::abort();
}

}  // namespace tunstack::fuzz_ip
