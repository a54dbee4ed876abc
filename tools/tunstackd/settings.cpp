#include "tools/tunstackd/settings.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>

#include <toml++/toml.h>

#include "dispatch/guard.hpp"
#include "tools/tunstackd/settings_parse.hpp"

namespace tunstack::daemon {
namespace detail {

std::optional<std::uint64_t> parse_uint(const std::string& v, std::uint64_t max) {
  std::uint64_t out = 0;
  int base = 10;
  const char* b = v.data();
  const char* e = v.data() + v.size();
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    base = 16;
    b += 2;
  }
  auto [end, ec] = std::from_chars(b, e, out, base);
  if (ec != std::errc{} || end != e || b == e || out > max) return std::nullopt;
  return out;
}

std::optional<bool> parse_bool(const std::string& v) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return std::nullopt;
}

std::string duration_text(Duration d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us % 1000 != 0) return std::to_string(us) + "us";
  const auto ms = us / 1000;
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<double> parse_real(const std::string& v) {
  double d = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

}  // namespace detail

namespace {

using detail::Apply;
using detail::duration_text;
using detail::Kind;
using detail::parse_bool;
using detail::parse_uint;

Apply set_string(std::string Settings::*field) {
  return [field](Settings& s, const std::string& v) -> std::optional<std::string> {
    s.*field = v;
    return std::nullopt;
  };
}

template <class T>
Apply set_uint(T Settings::*field, std::uint64_t lo, std::uint64_t hi) {
  return [field, lo, hi](Settings& s, const std::string& v) -> std::optional<std::string> {
    auto n = parse_uint(v, hi);
    if (!n || *n < lo)
      return "expects a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
             ", got '" + v + "'";
    s.*field = static_cast<T>(*n);
    return std::nullopt;
  };
}

Apply set_bool(bool Settings::*field) {
  return [field](Settings& s, const std::string& v) -> std::optional<std::string> {
    auto b = parse_bool(v);
    if (!b) return "expects true or false, got '" + v + "'";
    s.*field = *b;
    return std::nullopt;
  };
}

// [impair]: one spec string per direction (stack/impair/config.hpp has the grammar).
Apply set_impair(impair::ImpairConfig Settings::*field) {
  return [field](Settings& s, const std::string& v) -> std::optional<std::string> {
    auto c = impair::parse_spec(v);
    if (!c) return c.error();
    s.*field = *c;
    return std::nullopt;
  };
}

/// [tun] and [outbound].
void add_device_and_outbound(const detail::AddSetting& add) {
  add("tun.name", "--tun", Kind::String, "TUN device to open (created if missing)",
      set_string(&Settings::tun_name));
  add("tun.fd", "--tun-fd", Kind::UInt, "adopt an already-open TUN file descriptor",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        auto n = parse_uint(v, std::numeric_limits<int>::max());
        if (!n) return "expects a file descriptor number, got '" + v + "'";
        s.tun_fd = static_cast<int>(*n);
        return std::nullopt;
      });
  add("tun.mtu", "--mtu", Kind::UInt, "TUN MTU (576..65535)",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        auto n = parse_uint(v, 65535);
        if (!n || *n < 576) return "expects a whole number from 576 to 65535, got '" + v + "'";
        s.mtu = static_cast<std::uint32_t>(*n);
        s.tcp.mtu = s.mtu;  // the engine derives its MSS from it
        return std::nullopt;
      });
  add("tun.txqueuelen", "--tun-txqueuelen", Kind::UInt,
      "packets the kernel queues toward the daemon before dropping (0: leave the kernel's 500)",
      set_uint(&Settings::tun_txqueuelen, 0, 1u << 20));
  add("tun.reads", "--tun-reads", Kind::UInt, "TUN reads kept in flight on the ring (1..1024)",
      set_uint(&Settings::tun_reads, 1, 1024));
  add("tun.rx_mode", "--rx-mode", Kind::String,
      "how TUN reads are kept in flight: auto, reads (single reads) or multishot (buffer ring)",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        if (v != "auto" && v != "reads" && v != "multishot")
          return "expects auto, reads or multishot; got '" + v + "'";
        s.rx_mode = v;
        return std::nullopt;
      });
  add("outbound.type", "--outbound", Kind::String, "outbound for every flow (direct, reject, echo, ...)",
      set_string(&Settings::outbound));
  add("outbound.mark", "--mark", Kind::UInt, "SO_MARK on every outbound socket, for ip rule routing",
      set_uint(&Settings::mark, 0, 0xffffffffu));
  add("outbound.bind_interface", "--bind-interface", Kind::String,
      "SO_BINDTODEVICE on every outbound socket", set_string(&Settings::bind_interface));
  add("outbound.udp_queue", "--udp-queue", Kind::UInt,
      "datagrams queued per UDP mapping toward the outbound (1..65536)",
      set_uint(&Settings::udp_queue, 1, 65536));
}

/// [nat], [icmp], [log], [stats].
void add_nat_and_service(const detail::AddSetting& add) {
  add("nat.max_mappings", "--udp-max-mappings", Kind::UInt,
      "UDP NAT table cap; past it the least recently used mapping is evicted",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        auto n = parse_uint(v, 1u << 22);
        if (!n || *n == 0) return "expects a whole number from 1 to 4194304, got '" + v + "'";
        s.nat.max_mappings = *n;
        return std::nullopt;
      });
  add("nat.idle_timeout", "--udp-idle-timeout", Kind::Duration,
      "UDP mapping idle timeout (RFC 4787: at least 2m; e.g. 300s, 5m)",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        auto d = parse_duration(v);
        if (!d || d->count() <= 0) return "expects a duration like 30s, 5m or 250ms, got '" + v + "'";
        s.nat.idle_timeout = *d;
        return std::nullopt;
      });
  add("nat.inbound_refresh", "--udp-inbound-refresh", Kind::Bool,
      "let datagrams from remotes refresh a mapping's idle timer too", [](Settings& s, const std::string& v)
          -> std::optional<std::string> {
        auto b = parse_bool(v);
        if (!b) return "expects true or false, got '" + v + "'";
        s.nat.inbound_refresh = *b;
        return std::nullopt;
      });
  add("icmp.ping_local", "--ping-local", Kind::Bool,
      "answer ICMP echo requests locally instead of forwarding them", set_bool(&Settings::ping_local));
  add("log.level", "--log-level", Kind::String, "trace, debug, info, warn, error or off",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
        for (const char* l : levels)
          if (v == l) {
            s.log_level = v;
            return std::nullopt;
          }
        return "expects one of trace, debug, info, warn, error, off; got '" + v + "'";
      });
  add("stats.file", "--stats-file", Kind::String,
      "write counters (Prometheus text format) to this file every stats.interval",
      set_string(&Settings::stats_file));
  add("stats.interval", "--stats-interval", Kind::Duration, "how often the stats file is rewritten",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        auto d = parse_duration(v);
        if (!d || *d < std::chrono::milliseconds(10)) return "expects a duration of at least 10ms, got '" + v + "'";
        s.stats_interval = *d;
        return std::nullopt;
      });
}

/// [security] and [trace].
void add_security_and_trace(const detail::AddSetting& add) {
  add("security.block_own_host", "--block-own-host", Kind::Bool,
      "refuse flows to the gateway's own addresses, loopback, link-local, multicast and reserved "
      "ranges (TCP: RST; UDP, ping: ICMP administratively prohibited)",
      set_bool(&Settings::block_own_host));
  add("security.allow", "--allow", Kind::String,
      "destinations let through despite block_own_host: ADDRESS[/LEN][:PORT[-PORT]] entries, comma "
      "separated (IPv6 in brackets with a port; a TOML array of strings in the file)",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        if (auto r = dispatch::parse_allow_list(v); !r) return r.error();
        s.allow = v;
        return std::nullopt;
      });
  add("trace.file", "--trace-file", Kind::String,
      "write per-connection TCP sender traces to this file (tools/plot/tcp_trace_plot.py draws them)",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        s.trace.path = v;
        return std::nullopt;
      });
  add("trace.format", "--trace-format", Kind::String, "trace file format: csv or jsonl",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        if (v == "csv") s.trace.format = TraceOptions::Format::Csv;
        else if (v == "jsonl") s.trace.format = TraceOptions::Format::Jsonl;
        else return "expects csv or jsonl; got '" + v + "'";
        return std::nullopt;
      });
  add("trace.filter", "--trace-filter", Kind::String,
      "flows to trace: space-separated terms that must all match, host=CIDR and port=N[-M] "
      "(client or server side); empty: every flow",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        if (auto t = parse_trace_filter(v); !t) return t.error();
        s.trace.filter = v;
        return std::nullopt;
      });
  add("trace.sample", "--trace-sample", Kind::UInt, "trace one in N of the matching flows (1: all)",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        auto n = parse_uint(v, 1u << 20);
        if (!n || *n == 0) return "expects a whole number from 1 to 1048576, got '" + v + "'";
        s.trace.sample = static_cast<std::uint32_t>(*n);
        return std::nullopt;
      });
  add("trace.max_buffer", "--trace-max-buffer", Kind::UInt,
      "trace bytes gathered in memory before one write (also written every 200ms): memory vs syscalls",
      [](Settings& s, const std::string& v) -> std::optional<std::string> {
        auto n = parse_uint(v, 1ull << 30);
        if (!n || *n < 4096) return "expects a whole number from 4096 to 1073741824, got '" + v + "'";
        s.trace.max_buffer = *n;
        return std::nullopt;
      });
}

/// [memory], [tcp] (settings_tcp.cpp) and [impair].
void add_memory_tcp_impair(const detail::AddSetting& add) {
  add("memory.pool_bytes", "--pool-bytes", Kind::UInt, "cap on packet-buffer memory in bytes",
      set_uint(&Settings::pool_bytes, 1u << 20, 1ull << 40));

  detail::add_tcp_settings(add);

  add("impair.rx", "--impair-rx", Kind::String,
      "impair packets from the TUN into the stack, e.g. \"loss=1% delay=20ms jitter=2ms seed=7\" "
      "(keys: loss ge dup reorder gap delay jitter rate queue limit seed; \"off\" disables)",
      set_impair(&Settings::impair_rx));
  add("impair.tx", "--impair-tx", Kind::String,
      "impair packets from the stack to the TUN; same spec as --impair-rx",
      set_impair(&Settings::impair_tx));
}

std::vector<SettingSpec> build_specs() {
  std::vector<SettingSpec> specs;
  auto add = [&](std::string key, std::string flag, Kind k, std::string help, Apply a) {
    specs.push_back({std::move(key), std::move(flag), k, std::move(help), std::move(a)});
  };
  add_device_and_outbound(add);
  add_nat_and_service(add);
  add_security_and_trace(add);
  add_memory_tcp_impair(add);
  return specs;
}

std::string node_to_string(const toml::node& n, Kind kind, bool& ok) {
  ok = true;
  switch (kind) {
    case Kind::String:
      if (auto s = n.value<std::string>()) return *s;
      if (const auto* arr = n.as_array()) {  // a list setting: its entries, comma separated
        std::string joined;
        for (const auto& e : *arr) {
          auto item = e.value<std::string>();
          if (!item) {
            ok = false;
            return {};
          }
          joined.append(joined.empty() ? "" : ",").append(*item);
        }
        return joined;
      }
      break;
    case Kind::UInt:
      if (auto i = n.value<std::int64_t>(); i && *i >= 0) return std::to_string(*i);
      break;
    case Kind::Bool:
      if (auto b = n.value<bool>()) return *b ? "true" : "false";
      break;
    case Kind::Real:
      if (auto d = n.value<double>()) {
        std::ostringstream out;
        out.precision(17);
        out << *d;
        return out.str();
      }
      break;
    case Kind::Duration:
      if (auto s = n.value<std::string>()) return *s;
      if (auto i = n.value<std::int64_t>()) return std::to_string(*i);  // seconds
      break;
  }
  ok = false;
  return {};
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::String: return "a string";
    case Kind::UInt: return "a non-negative integer";
    case Kind::Bool: return "true or false";
    case Kind::Real: return "a number";
    case Kind::Duration: return "a duration string like \"30s\"";
  }
  return "?";
}

}  // namespace

const std::vector<SettingSpec>& setting_specs() {
  static const std::vector<SettingSpec> specs = build_specs();
  return specs;
}

std::optional<Duration> parse_duration(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == 0) return std::nullopt;
  auto n = parse_uint(s.substr(0, i), 1ull << 40);
  if (!n) return std::nullopt;
  const std::string unit = s.substr(i);
  const auto v = static_cast<std::int64_t>(*n);
  if (unit.empty() || unit == "s") return std::chrono::seconds(v);
  if (unit == "ms") return std::chrono::milliseconds(v);
  if (unit == "us") return std::chrono::microseconds(v);
  if (unit == "m") return std::chrono::minutes(v);
  if (unit == "h") return std::chrono::hours(v);
  return std::nullopt;
}

Status<std::string> apply_setting(Settings& s, const std::string& key_or_flag, const std::string& value) {
  for (const auto& spec : setting_specs()) {
    if (spec.key == key_or_flag || spec.flag == key_or_flag) {
      if (auto err = spec.apply(s, value)) return Err{spec.flag + " (" + spec.key + ") " + *err};
      return {};
    }
  }
  return Err{"unknown setting '" + key_or_flag + "'"};
}

Status<std::string> load_toml(const std::string& path, Settings& s) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Err{path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
               std::string(e.description())};
  }
  // Every key in the file must be a known setting: a typo is an error, not a silent default.
  std::optional<std::string> error;
  for (auto&& [section_key, section] : root) {
    const auto* table = section.as_table();
    if (table == nullptr) {
      error = path + ":" + std::to_string(section.source().begin.line) + ": '" +
              std::string(section_key.str()) + "' must be a [section]";
      break;
    }
    for (auto&& [key, node] : *table) {
      const std::string full = std::string(section_key.str()) + "." + std::string(key.str());
      const std::string line = path + ":" + std::to_string(node.source().begin.line);
      const SettingSpec* spec = nullptr;
      for (const auto& sp : setting_specs())
        if (sp.key == full) spec = &sp;
      if (spec == nullptr) {
        error = line + ": unknown setting '" + full + "'";
        break;
      }
      bool ok = false;
      std::string text = node_to_string(node, spec->kind, ok);
      if (!ok) {
        error = line + ": '" + full + "' expects " + kind_name(spec->kind);
        break;
      }
      if (auto err = spec->apply(s, text)) {
        error = line + ": '" + full + "' " + *err;
        break;
      }
    }
    if (error) break;
  }
  if (error) return Err{*error};
  s.source = path;
  return {};
}

namespace {

std::string bytes_text(std::uint64_t n) { return std::to_string(n); }

std::optional<std::string> validate_impair(const Settings& s) {
  for (auto [key, c] : {std::pair{"impair.rx", &s.impair_rx}, std::pair{"impair.tx", &s.impair_tx}}) {
    if (auto st = impair::check(*c); !st) return std::string(key) + ": " + st.error();
    // A byte queue smaller than one MTU-sized packet would drop every full-sized packet.
    if (c->rate_bps > 0 && c->queue_bytes != 0 && c->queue_bytes < s.mtu)
      return std::string(key) + ": queue=" + bytes_text(c->queue_bytes) + "b is below the MTU (" +
             std::to_string(s.mtu) + "): it could not hold one full-sized packet";
  }
  return std::nullopt;
}

}  // namespace

Status<std::string> validate(const Settings& s) {
  if (s.tun_fd < 0 && s.tun_name.empty()) return Err{std::string("--tun or --tun-fd is required")};
  if (s.tun_name.size() >= 16) return Err{"--tun '" + s.tun_name + "' is longer than 15 characters"};
  if (auto e = detail::validate_tcp(s)) return Err{*e};
  if (auto e = validate_impair(s)) return Err{*e};
  return {};
}

}  // namespace tunstack::daemon
