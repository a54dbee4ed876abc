#include "tools/tunstackd/settings.hpp"

#include <charconv>
#include <limits>

#include <toml++/toml.h>

namespace tunstack::daemon {
namespace {

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

/// "250ms", "30s", "5m": the largest unit that divides the duration exactly (as parse_duration reads).
std::string duration_text(Duration d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us % 1000 != 0) return std::to_string(us) + "us";
  const auto ms = us / 1000;
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

using Kind = SettingSpec::Kind;
using Apply = std::function<std::optional<std::string>(Settings&, const std::string&)>;

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

// [tcp]: setters for one tcp::TcpConfig field each, with the kind the TOML value must have.
using tcp::TcpConfig;
struct Setter {
  Kind kind;
  Apply apply;
};

template <class T>
Setter tcp_uint(T TcpConfig::*field, std::uint64_t lo, std::uint64_t hi) {
  return {Kind::UInt, [field, lo, hi](Settings& s, const std::string& v) -> std::optional<std::string> {
            auto n = parse_uint(v, hi);
            if (!n || *n < lo)
              return "expects a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ", got '" + v + "'";
            s.tcp.*field = static_cast<T>(*n);
            return std::nullopt;
          }};
}

Setter tcp_duration(Duration TcpConfig::*field, Duration lo, Duration hi) {
  return {Kind::Duration, [field, lo, hi](Settings& s, const std::string& v) -> std::optional<std::string> {
            auto d = parse_duration(v);
            if (!d || *d < lo || *d > hi)
              return "expects a duration from " + duration_text(lo) + " to " + duration_text(hi) +
                     " (such as 200ms, 30s, 2m), got '" + v + "'";
            s.tcp.*field = *d;
            return std::nullopt;
          }};
}

Setter tcp_bool(bool TcpConfig::*field) {
  return {Kind::Bool, [field](Settings& s, const std::string& v) -> std::optional<std::string> {
            auto b = parse_bool(v);
            if (!b) return "expects true or false, got '" + v + "'";
            s.tcp.*field = *b;
            return std::nullopt;
          }};
}

// Congestion controllers the engine builds (stack/tcp/cc_registry.cpp). tcp.cc points into the
// registry's names, whose storage is static: Settings can be copied freely.
Setter tcp_cc() {
  return {Kind::String, [](Settings& s, const std::string& v) -> std::optional<std::string> {
            std::string known;
            for (const tcp::CcAlgorithm& a : tcp::cc_algorithms()) {
              const std::string_view name = a.name;
              if (v == name) {
                s.tcp.cc = name;
                return std::nullopt;
              }
              known.append(known.empty() ? "" : ", ").append(name);
            }
            return "expects one of " + known + "; got '" + v + "'";
          }};
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

std::vector<SettingSpec> build_specs() {
  std::vector<SettingSpec> specs;
  auto add = [&](std::string key, std::string flag, Kind k, std::string help, Apply a) {
    specs.push_back({std::move(key), std::move(flag), k, std::move(help), std::move(a)});
  };
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
  add("memory.pool_bytes", "--pool-bytes", Kind::UInt, "cap on packet-buffer memory in bytes",
      set_uint(&Settings::pool_bytes, 1u << 20, 1ull << 40));

  // [tcp]: TOML key tcp.NAME, flag --tcp-NAME (underscores as dashes). One line per setting.
  auto tcp = [&](const std::string& name, std::string help, Setter set) {
    std::string flag = "--tcp-" + name;
    for (char& ch : flag)
      if (ch == '_') ch = '-';
    add("tcp." + name, flag, set.kind, std::move(help), std::move(set.apply));
  };
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  using std::chrono::seconds;
  constexpr std::uint64_t kMaxWindow = 1u << 30;  // RFC 7323 §2.3: the largest scaled window
  tcp("rcv_buf", "receive buffer per connection in bytes (client -> remote; initial size)",
      tcp_uint(&TcpConfig::rcv_buf, 1024, kMaxWindow));
  tcp("snd_buf", "send buffer per connection in bytes (remote -> client; initial size)",
      tcp_uint(&TcpConfig::snd_buf, 1024, kMaxWindow));
  tcp("min_buf", "buffers below this are raised to it", tcp_uint(&TcpConfig::min_buf, 1024, kMaxWindow));
  tcp("max_buf", "buffers above this are cut to it", tcp_uint(&TcpConfig::max_buf, 1024, kMaxWindow));
  tcp("initial_window", "initial congestion window in segments (RFC 6928: 10)",
      tcp_uint(&TcpConfig::initial_window_segments, 1, 1000));
  tcp("rto_initial", "retransmission timeout before the first RTT sample (RFC 6298: 1s)",
      tcp_duration(&TcpConfig::rto_initial, milliseconds(1), minutes(10)));
  tcp("rto_min", "lower bound of the retransmission timeout (Linux: 200ms)",
      tcp_duration(&TcpConfig::rto_min, milliseconds(1), minutes(10)));
  tcp("rto_max", "upper bound of the retransmission timeout (RFC 6298: at least 60s)",
      tcp_duration(&TcpConfig::rto_max, milliseconds(1), minutes(10)));
  tcp("delack", "delayed-ACK timeout (RFC 1122 4.2.3.2: under 500ms; 0 acks at once)",
      tcp_duration(&TcpConfig::delack_timeout, milliseconds(0), milliseconds(500)));
  tcp("time_wait", "how long a closed connection lingers in TIME-WAIT",
      tcp_duration(&TcpConfig::time_wait, milliseconds(0), minutes(10)));
  tcp("fin_wait2_timeout", "how long to wait for the client's FIN after ours was acked",
      tcp_duration(&TcpConfig::fin_wait2_timeout, seconds(1), hours(24)));
  tcp("connect_timeout", "how long a SYN waits for the outbound to connect",
      tcp_duration(&TcpConfig::connect_timeout, seconds(1), minutes(10)));
  tcp("max_retries", "RTO retransmissions of data or FIN before the connection is dropped",
      tcp_uint(&TcpConfig::max_retries, 1, 100));
  tcp("synack_retries", "SYN-ACK retransmissions before a half-open connection is dropped",
      tcp_uint(&TcpConfig::synack_retries, 0, 100));
  tcp("keepalive_idle", "idle time before keepalive probes start (0 disables keepalive)",
      tcp_duration(&TcpConfig::keepalive_idle, seconds(0), hours(24)));
  tcp("keepalive_interval", "time between keepalive probes",
      tcp_duration(&TcpConfig::keepalive_interval, seconds(1), hours(24)));
  tcp("keepalive_probes", "unanswered keepalive probes before the connection is dropped",
      tcp_uint(&TcpConfig::keepalive_probes, 1, 1000));
  tcp("max_half_open", "connections not yet established (the SYN queue)",
      tcp_uint(&TcpConfig::max_half_open, 1, 1u << 22));
  tcp("max_connections", "TCP connections at once", tcp_uint(&TcpConfig::max_connections, 1, 1u << 22));
  tcp("quickack", "segments ACKed at once at the start of a connection (Linux quickack)",
      tcp_uint(&TcpConfig::quickack_segments, 0, 1u << 16));
  tcp("immediate_synack", "answer a SYN before the outbound connects (default: after)",
      tcp_bool(&TcpConfig::immediate_synack));
  tcp("sack", "offer and accept SACK (RFC 2018)", tcp_bool(&TcpConfig::sack));
  tcp("timestamps", "offer and accept timestamps (RFC 7323)", tcp_bool(&TcpConfig::timestamps));
  tcp("window_scale", "offer and accept window scaling (RFC 7323)", tcp_bool(&TcpConfig::window_scale));
  tcp("cc", "congestion control: cubic (RFC 9438 with HyStart++), newreno or bbr (v1)", tcp_cc());
  tcp("rcv_buf_max", "receive buffer auto-tuning ceiling in bytes (= rcv_buf turns tuning off)",
      tcp_uint(&TcpConfig::rcv_buf_max, 1024, kMaxWindow));
  tcp("snd_buf_max", "send buffer ceiling in bytes (the buffer follows 2 x cwnd up to it)",
      tcp_uint(&TcpConfig::snd_buf_max, 1024, kMaxWindow));
  tcp("buf_idle_release", "free a connection's empty buffers after this idle time (0: at once)",
      tcp_duration(&TcpConfig::buf_idle_release, milliseconds(0), minutes(10)));
  tcp("user_timeout", "abort when sent data stays unacknowledged this long (0: max_retries decides)",
      tcp_duration(&TcpConfig::user_timeout, milliseconds(0), hours(24)));
  tcp("syn_cookies", "answer with SYN cookies when the SYN queue is full (RFC 4987)",
      tcp_bool(&TcpConfig::syn_cookies));
  tcp("challenge_ack_limit", "challenge ACKs per second, all connections together (RFC 5961 7; 0: no limit)",
      tcp_uint(&TcpConfig::challenge_ack_limit, 0, 1u << 24));

  add("impair.rx", "--impair-rx", Kind::String,
      "impair packets from the TUN into the stack, e.g. \"loss=1% delay=20ms jitter=2ms seed=7\" "
      "(keys: loss ge dup reorder gap delay jitter rate queue limit seed; \"off\" disables)",
      set_impair(&Settings::impair_rx));
  add("impair.tx", "--impair-tx", Kind::String,
      "impair packets from the stack to the TUN; same spec as --impair-rx",
      set_impair(&Settings::impair_tx));
  return specs;
}

std::string node_to_string(const toml::node& n, Kind kind, bool& ok) {
  ok = true;
  switch (kind) {
    case Kind::String:
      if (auto s = n.value<std::string>()) return *s;
      break;
    case Kind::UInt:
      if (auto i = n.value<std::int64_t>(); i && *i >= 0) return std::to_string(*i);
      break;
    case Kind::Bool:
      if (auto b = n.value<bool>()) return *b ? "true" : "false";
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

/// The [tcp] rules that involve more than one key (each key's own range is checked when set).
std::optional<std::string> validate_tcp(const Settings& s) {
  const tcp::TcpConfig& t = s.tcp;
  if (t.mtu != s.mtu) return "tcp mtu " + std::to_string(t.mtu) + " differs from tun.mtu " + std::to_string(s.mtu);
  if (t.rto_min > t.rto_initial || t.rto_initial > t.rto_max)
    return "tcp.rto_min (" + duration_text(t.rto_min) + ") <= tcp.rto_initial (" + duration_text(t.rto_initial) +
           ") <= tcp.rto_max (" + duration_text(t.rto_max) + ") does not hold";
  // A delayed ACK must come well before the sender's retransmission timer (RFC 1122 4.2.3.2).
  if (t.delack_timeout >= t.rto_min)
    return "tcp.delack (" + duration_text(t.delack_timeout) + ") must be below tcp.rto_min (" +
           duration_text(t.rto_min) + ")";
  if (t.min_buf > t.max_buf)
    return "tcp.min_buf (" + bytes_text(t.min_buf) + ") is above tcp.max_buf (" + bytes_text(t.max_buf) + ")";
  // Every buffer must hold at least one full-sized segment of this MTU.
  if (t.min_buf < s.mtu)
    return "tcp.min_buf (" + bytes_text(t.min_buf) + ") is below the MTU (" + std::to_string(s.mtu) +
           "): a buffer must hold one full segment";
  for (auto [name, v] : {std::pair{"tcp.rcv_buf", t.rcv_buf}, std::pair{"tcp.snd_buf", t.snd_buf}}) {
    if (v < t.min_buf || v > t.max_buf)
      return std::string(name) + " (" + bytes_text(v) + ") is outside tcp.min_buf..tcp.max_buf (" +
             bytes_text(t.min_buf) + ".." + bytes_text(t.max_buf) + ")";
  }
  if (t.rcv_buf_max < t.rcv_buf || t.snd_buf_max < t.snd_buf)
    return "tcp.rcv_buf_max / tcp.snd_buf_max must not be below tcp.rcv_buf / tcp.snd_buf (" +
           bytes_text(t.rcv_buf_max) + " / " + bytes_text(t.snd_buf_max) + " vs " + bytes_text(t.rcv_buf) +
           " / " + bytes_text(t.snd_buf) + ")";
  if (t.max_half_open > t.max_connections)
    return "tcp.max_half_open (" + std::to_string(t.max_half_open) + ") is above tcp.max_connections (" +
           std::to_string(t.max_connections) + ")";
  return std::nullopt;
}

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
  if (auto e = validate_tcp(s)) return Err{*e};
  if (auto e = validate_impair(s)) return Err{*e};
  return {};
}

}  // namespace tunstack::daemon
