#pragma once
// Small text helpers for configuration values.
#include <string_view>

namespace tunstack {

/// Calls f(token) for every non-empty token of `text` separated by any of `separators`
/// (", " by default: the daemon's list settings accept commas, spaces or both). Stops at the
/// first call that returns false and returns false then.
template <class F>
bool for_each_token(std::string_view text, F&& f, std::string_view separators = ", ") {
  std::size_t i = 0;
  while (i < text.size()) {
    if (separators.find(text[i]) != std::string_view::npos) {
      ++i;
      continue;
    }
    std::size_t j = text.find_first_of(separators, i);
    if (j == std::string_view::npos) j = text.size();
    if (!f(text.substr(i, j - i))) return false;
    i = j;
  }
  return true;
}

}  // namespace tunstack
