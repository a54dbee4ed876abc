#include "stack/impair/config.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

namespace tunstack::impair {
namespace {

constexpr std::uint64_t kMaxRate = 10'000'000'000'000ULL;  // 10 Tbit/s: far beyond any TUN
constexpr std::uint32_t kMaxLimit = 1'000'000;             // ~2 GB of pooled MTU-sized blocks
constexpr Duration kMaxDuration = std::chrono::hours(1);

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return out;
}

/// Splits "12.5ms" into 12.5 and "ms"; nullopt when there is no leading non-negative number.
struct Quantity {
  double value;
  std::string unit;  // lower-cased
};
std::optional<Quantity> split_quantity(std::string_view v) {
  std::size_t i = 0;
  while (i < v.size() && ((v[i] >= '0' && v[i] <= '9') || v[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double d = 0.0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + i, d, std::chars_format::fixed);
  if (ec != std::errc{} || end != v.data() + i || !std::isfinite(d)) return std::nullopt;
  return Quantity{d, lower(v.substr(i))};
}

std::optional<double> parse_percent(std::string_view v) {
  auto q = split_quantity(v);
  if (!q || q->unit != "%" || q->value > 100.0) return std::nullopt;
  return q->value / 100.0;
}

std::optional<Duration> parse_time(std::string_view v) {
  auto q = split_quantity(v);
  if (!q) return std::nullopt;
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  for (auto [name, scale] : kUnits) {
    if (q->unit != name) continue;
    const double ns = std::round(q->value * scale);
    if (ns > static_cast<double>(Duration(kMaxDuration).count())) return std::nullopt;
    return Duration{static_cast<std::int64_t>(ns)};
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_rate(std::string_view v) {
  auto q = split_quantity(v);
  if (!q) return std::nullopt;
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"bit", 1.0}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"tbit", 1e12}};
  for (auto [name, scale] : kUnits) {
    if (q->unit != name) continue;
    const double bps = std::round(q->value * scale);
    if (bps < 1.0 || bps > static_cast<double>(kMaxRate)) return std::nullopt;
    return static_cast<std::uint64_t>(bps);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_integer(std::string_view v, std::uint64_t lo, std::uint64_t hi) {
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    base = 16;
    v.remove_prefix(2);
  }
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n, base);
  if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || n < lo || n > hi)
    return std::nullopt;
  return n;
}

/// "1000" or "1000p" packets; "64kb" (x1000), "256kib" (x1024), "1mb", "1mib", "1500b" bytes.
bool parse_queue(std::string_view v, ImpairConfig& c) {
  auto q = split_quantity(v);
  if (!q || q->value < 1.0) return false;
  if (q->unit.empty() || q->unit == "p" || q->unit == "pkt" || q->unit == "pkts") {
    if (q->value != std::floor(q->value) || q->value > kMaxLimit) return false;
    c.queue_packets = static_cast<std::uint32_t>(q->value);
    c.queue_bytes = 0;
    return true;
  }
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"b", 1.0}, {"kb", 1e3}, {"kib", 1024.0}, {"mb", 1e6}, {"mib", 1048576.0}, {"gb", 1e9}};
  for (auto [name, scale] : kUnits) {
    if (q->unit != name) continue;
    const double bytes = std::round(q->value * scale);
    if (bytes > 1e12) return false;
    c.queue_bytes = static_cast<std::uint64_t>(bytes);
    return true;
  }
  return false;
}

/// "p%,r%[,bad%[,good%]]".
bool parse_ge(std::string_view v, GilbertElliott& g) {
  std::vector<double> parts;
  while (true) {
    const std::size_t comma = v.find(',');
    auto p = parse_percent(v.substr(0, comma));
    if (!p) return false;
    parts.push_back(*p);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  if (parts.size() < 2 || parts.size() > 4) return false;
  g.p = parts[0];
  g.r = parts[1];
  g.bad_loss = parts.size() > 2 ? parts[2] : 1.0;
  g.good_loss = parts.size() > 3 ? parts[3] : 0.0;
  return g.p > 0.0 && g.r > 0.0;
}

/// Applies one "key=value" token; returns the error text (without the token) or nullopt.
std::optional<std::string> apply_token(std::string_view key, std::string_view value, ImpairConfig& c) {
  const char* kPercent = "expects a percentage from 0% to 100%, such as 2% or 0.5%";
  const char* kTime = "expects a duration such as 10ms, 500us or 1.5s (units ns, us, ms, s; at most 1h)";
  auto percent_into = [&](double& field) -> std::optional<std::string> {
    auto p = parse_percent(value);
    if (!p) return kPercent;
    field = *p;
    return std::nullopt;
  };
  auto time_into = [&](Duration& field) -> std::optional<std::string> {
    auto d = parse_time(value);
    if (!d) return kTime;
    field = *d;
    return std::nullopt;
  };
  if (key == "loss") return percent_into(c.loss);
  if (key == "dup") return percent_into(c.duplicate);
  if (key == "reorder") return percent_into(c.reorder);
  if (key == "gap") return time_into(c.gap);
  if (key == "delay") return time_into(c.delay);
  if (key == "jitter") return time_into(c.jitter);
  if (key == "ge") {
    if (!parse_ge(value, c.burst))
      return "expects p%,r%[,bad_loss%[,good_loss%]] with p and r above 0%, such as ge=1%,30%";
    return std::nullopt;
  }
  if (key == "rate") {
    auto r = parse_rate(value);
    if (!r) return "expects a rate such as 100mbit, 1.5gbit or 512kbit (units bit, kbit, mbit, gbit, tbit)";
    c.rate_bps = *r;
    return std::nullopt;
  }
  if (key == "queue") {
    if (!parse_queue(value, c))
      return "expects packets (1000) or bytes (64kb, 256kib, 1mb, 1500b), at least 1";
    return std::nullopt;
  }
  if (key == "limit") {
    auto n = parse_integer(value, 1, kMaxLimit);
    if (!n) return "expects a packet count from 1 to " + std::to_string(kMaxLimit);
    c.limit = static_cast<std::uint32_t>(*n);
    return std::nullopt;
  }
  if (key == "seed") {
    auto n = parse_integer(value, 0, std::numeric_limits<std::uint64_t>::max());
    if (!n) return "expects an unsigned 64-bit integer (decimal or 0x hex)";
    c.seed = *n;
    return std::nullopt;
  }
  return "unknown key '" + std::string(key) +
         "' (known: loss ge dup reorder gap delay jitter rate queue limit seed)";
}

std::string percent(double p) {
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), p * 100.0,
                                 std::chars_format::general, 12);
  (void)ec;  // 32 bytes always hold 12 significant digits
  return std::string(buf.data(), end) + "%";
}

std::string time_text(Duration d) {
  const std::int64_t ns = d.count();
  if (ns != 0 && ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
  if (ns != 0 && ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
  if (ns != 0 && ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
  return std::to_string(ns) + "ns";
}

std::string rate_text(std::uint64_t bps) {
  static constexpr std::pair<std::uint64_t, std::string_view> kUnits[] = {
      {1'000'000'000'000ULL, "tbit"}, {1'000'000'000ULL, "gbit"}, {1'000'000ULL, "mbit"}, {1'000ULL, "kbit"}};
  for (auto [scale, name] : kUnits)
    if (bps % scale == 0) return std::to_string(bps / scale) + std::string(name);
  return std::to_string(bps) + "bit";
}

}  // namespace

Result<ImpairConfig, std::string> parse_spec(std::string_view spec) {
  ImpairConfig c;
  std::vector<std::string_view> seen;
  bool queue_given = false;
  std::size_t i = 0;
  auto space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; };
  while (true) {
    while (i < spec.size() && space(spec[i])) ++i;
    if (i == spec.size()) break;
    std::size_t j = i;
    while (j < spec.size() && !space(spec[j])) ++j;
    const std::string_view token = spec.substr(i, j - i);
    i = j;
    while (j < spec.size() && space(spec[j])) ++j;
    if ((token == "off" || token == "none") && seen.empty() && j == spec.size()) break;
    const std::size_t eq = token.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return Err{"bad token '" + std::string(token) + "': expects key=value, such as loss=1%"};
    const std::string_view key = token.substr(0, eq);
    for (std::string_view k : seen)
      if (k == key) return Err{"bad token '" + std::string(token) + "': " + std::string(key) + " given twice"};
    seen.push_back(key);
    if (key == "queue") queue_given = true;
    if (auto err = apply_token(key, token.substr(eq + 1), c))
      return Err{"bad token '" + std::string(token) + "': " + *err};
  }
  if (queue_given && c.rate_bps == 0) return Err{std::string("queue= needs rate= (it is the bottleneck's queue)")};
  if (auto st = check(c); !st) return Err{st.error()};
  return c;
}

Status<std::string> check(const ImpairConfig& c) {
  auto prob_ok = [](double p) { return p >= 0.0 && p <= 1.0; };  // false for NaN too
  if (!prob_ok(c.loss) || !prob_ok(c.duplicate) || !prob_ok(c.reorder) || !prob_ok(c.burst.p) ||
      !prob_ok(c.burst.r) || !prob_ok(c.burst.bad_loss) || !prob_ok(c.burst.good_loss))
    return Err{std::string("probabilities must be from 0% to 100%")};
  if (c.loss > 0.0 && c.burst.enabled())
    return Err{std::string("loss= and ge= are exclusive: ge= already sets the loss of each state")};
  if (c.burst.enabled() && c.burst.r <= 0.0)
    return Err{std::string("ge= needs r above 0% (or the Bad state never ends)")};
  if (c.gap.count() < 0 || c.delay.count() < 0 || c.jitter.count() < 0)
    return Err{std::string("durations must not be negative")};
  if (c.reorder > 0.0 && c.delay.count() == 0 && c.gap.count() == 0)
    return Err{"reorder=" + percent(c.reorder) +
               " has no effect alone: add delay= (reordered packets skip it) or gap= (reordered packets"
               " are held back by it)"};
  if (c.gap.count() > 0 && c.reorder <= 0.0)
    return Err{"gap=" + time_text(c.gap) + " needs reorder= (it is how long a reordered packet is held back)"};
  if (c.jitter > c.delay)
    return Err{"jitter=" + time_text(c.jitter) + " exceeds delay=" + time_text(c.delay) +
               " (the latency cannot go below zero)"};
  if (c.rate_bps > kMaxRate) return Err{std::string("rate above 10tbit")};
  if (c.limit == 0 || c.limit > kMaxLimit)
    return Err{"limit must be from 1 to " + std::to_string(kMaxLimit) + " packets"};
  if (c.queue_packets == 0) return Err{std::string("queue must hold at least 1 packet")};
  if (c.rate_bps > 0 && c.queue_bytes == 0 && c.queue_packets > c.limit)
    return Err{"queue=" + std::to_string(c.queue_packets) + " exceeds limit=" + std::to_string(c.limit) +
               " (all held packets count against the limit)"};
  return {};
}

std::string to_string(const ImpairConfig& c) {
  if (c == ImpairConfig{}) return "off";
  const ImpairConfig d;
  std::string s;
  auto add = [&](std::string_view key, const std::string& value) {
    if (!s.empty()) s += ' ';
    s += key;
    s += '=';
    s += value;
  };
  if (c.loss != d.loss) add("loss", percent(c.loss));
  if (c.burst.enabled()) {
    std::string v = percent(c.burst.p);
    v.append(",").append(percent(c.burst.r));
    if (c.burst.bad_loss != d.burst.bad_loss || c.burst.good_loss != d.burst.good_loss)
      v.append(",").append(percent(c.burst.bad_loss));
    if (c.burst.good_loss != d.burst.good_loss) v.append(",").append(percent(c.burst.good_loss));
    add("ge", v);
  }
  if (c.duplicate != d.duplicate) add("dup", percent(c.duplicate));
  if (c.reorder != d.reorder) add("reorder", percent(c.reorder));
  if (c.gap != d.gap) add("gap", time_text(c.gap));
  if (c.delay != d.delay) add("delay", time_text(c.delay));
  if (c.jitter != d.jitter) add("jitter", time_text(c.jitter));
  if (c.rate_bps != 0) {
    add("rate", rate_text(c.rate_bps));
    add("queue", c.queue_bytes != 0 ? std::to_string(c.queue_bytes) + "b" : std::to_string(c.queue_packets));
  }
  if (c.limit != d.limit) add("limit", std::to_string(c.limit));
  add("seed", std::to_string(c.seed));
  return s;
}

}  // namespace tunstack::impair
