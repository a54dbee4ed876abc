#pragma once
// Test support: packet bytes written as hex text ("4500 0054 ..."); anything that is not a hex
// digit (spaces, newlines, colons) is skipped.
#include <cstddef>
#include <string_view>
#include <vector>

namespace tunstack::testing {

using Buf = std::vector<std::byte>;

inline Buf hex(std::string_view s) {
  Buf out;
  int hi = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::byte>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

}  // namespace tunstack::testing
