// The congestion controllers the engine knows: one line per algorithm. Each algorithm lives in
// its own file (cc_<name>.cpp) and exposes only its factory.
#include <array>

#include "stack/tcp/cc.hpp"

namespace tunstack::tcp {

std::unique_ptr<CongestionControl> make_newreno(const CcParams& p);
std::unique_ptr<CongestionControl> make_cubic(const CcParams& p);
std::unique_ptr<CongestionControl> make_bbr(const CcParams& p);

namespace {
constexpr std::array kAlgorithms = {
    CcAlgorithm{"cubic", "RFC 9438 CUBIC with RFC 9406 HyStart++ (default)", &make_cubic},
    CcAlgorithm{"newreno", "RFC 5681 / RFC 6582 NewReno", &make_newreno},
    CcAlgorithm{"bbr", "BBR v1 (model-based: bandwidth and min-RTT estimates, paced)", &make_bbr},
};
}  // namespace

std::span<const CcAlgorithm> cc_algorithms() { return kAlgorithms; }

std::unique_ptr<CongestionControl> make_cc(std::string_view name, const CcParams& p) {
  for (const CcAlgorithm& a : kAlgorithms)
    if (a.name == name) return a.make(p);
  return nullptr;
}

}  // namespace tunstack::tcp
