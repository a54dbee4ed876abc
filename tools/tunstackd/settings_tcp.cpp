// The [tcp] section of the daemon's settings: one line per tcp::TcpConfig knob, and the rules
// that tie several of them together.
#include <string>

#include "tools/tunstackd/settings_parse.hpp"

namespace tunstack::daemon::detail {
namespace {

using tcp::TcpConfig;

struct Setter {
  Kind kind;
  Apply apply;
};

std::string range_error(std::uint64_t lo, std::uint64_t hi, const std::string& v) {
  return "expects a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got '" + v + "'";
}

template <class T>
Setter tcp_uint(T TcpConfig::*field, std::uint64_t lo, std::uint64_t hi) {
  return {Kind::UInt, [field, lo, hi](Settings& s, const std::string& v) -> std::optional<std::string> {
            auto n = parse_uint(v, hi);
            if (!n || *n < lo) return range_error(lo, hi, v);
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

/// A bool anywhere in TcpConfig (a member, or a member of its cc_params).
template <class F>
Setter tcp_flag(F field) {
  return {Kind::Bool, [field](Settings& s, const std::string& v) -> std::optional<std::string> {
            auto b = parse_bool(v);
            if (!b) return "expects true or false, got '" + v + "'";
            field(s.tcp) = *b;
            return std::nullopt;
          }};
}
Setter tcp_bool(bool TcpConfig::*field) {
  return tcp_flag([field](TcpConfig& t) -> bool& { return t.*field; });
}
Setter cc_bool(bool tcp::CcParams::*field) {
  return tcp_flag([field](TcpConfig& t) -> bool& { return t.cc_params.*field; });
}

/// A number in (lo, hi] of the controllers' constants.
Setter cc_real(double tcp::CcParams::*field, double lo, double hi) {
  return {Kind::Real, [field, lo, hi](Settings& s, const std::string& v) -> std::optional<std::string> {
            auto d = parse_real(v);
            if (!d || *d <= lo || *d > hi)
              return "expects a number above " + std::to_string(lo) + " and at most " + std::to_string(hi) +
                     ", got '" + v + "'";
            s.tcp.cc_params.*field = *d;
            return std::nullopt;
          }};
}

/// One of a fixed list of names, each mapped to an enum value.
template <class E>
Setter tcp_choice(E TcpConfig::*field, std::initializer_list<std::pair<const char*, E>> choices) {
  std::vector<std::pair<std::string, E>> list;
  for (const auto& [name, value] : choices) list.emplace_back(name, value);
  return {Kind::String, [field, list](Settings& s, const std::string& v) -> std::optional<std::string> {
            std::string known;
            for (const auto& [name, value] : list) {
              if (v == name) {
                s.tcp.*field = value;
                return std::nullopt;
              }
              known.append(known.empty() ? "" : ", ").append(name);
            }
            return "expects one of " + known + "; got '" + v + "'";
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

/// "cubic (...), newreno (...), bbr (...)": the registry's names and descriptions, for --help.
std::string cc_help() {
  std::string help = "congestion control:";
  const char* sep = " ";
  for (const tcp::CcAlgorithm& a : tcp::cc_algorithms()) {
    help.append(sep).append(a.name).append(" (").append(a.description).append(")");
    sep = ", ";
  }
  return help;
}

void add_buffers_and_timers(const std::function<void(const std::string&, std::string, Setter)>& tcp) {
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
  tcp("rcv_buf_max", "receive buffer auto-tuning ceiling in bytes (= rcv_buf turns tuning off)",
      tcp_uint(&TcpConfig::rcv_buf_max, 1024, kMaxWindow));
  tcp("snd_buf_max", "send buffer ceiling in bytes (the buffer follows 2 x cwnd up to it)",
      tcp_uint(&TcpConfig::snd_buf_max, 1024, kMaxWindow));
  tcp("buf_idle_release", "free a connection's empty buffers after this idle time (0: at once)",
      tcp_duration(&TcpConfig::buf_idle_release, milliseconds(0), minutes(10)));
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
  tcp("user_timeout", "abort when sent data stays unacknowledged this long (0: max_retries decides)",
      tcp_duration(&TcpConfig::user_timeout, milliseconds(0), hours(24)));
  tcp("keepalive_idle", "idle time before keepalive probes start (0 disables keepalive)",
      tcp_duration(&TcpConfig::keepalive_idle, seconds(0), hours(24)));
  tcp("keepalive_interval", "time between keepalive probes",
      tcp_duration(&TcpConfig::keepalive_interval, seconds(1), hours(24)));
  tcp("keepalive_probes", "unanswered keepalive probes before the connection is dropped",
      tcp_uint(&TcpConfig::keepalive_probes, 1, 1000));
}

void add_table_and_options(const std::function<void(const std::string&, std::string, Setter)>& tcp) {
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
  tcp("syn_cookies", "answer with SYN cookies when the SYN queue is full (RFC 4987)",
      tcp_bool(&TcpConfig::syn_cookies));
  tcp("challenge_ack_limit", "challenge ACKs per second, all connections together (RFC 5961 7; 0: no limit)",
      tcp_uint(&TcpConfig::challenge_ack_limit, 0, 1u << 24));
}

void add_sender(const std::function<void(const std::string&, std::string, Setter)>& tcp) {
  tcp("cc", cc_help(), tcp_cc());
  tcp("initial_window", "initial congestion window in segments (RFC 6928: 10)",
      tcp_uint(&TcpConfig::initial_window_segments, 1, 1000));
  tcp("recovery",
      "loss detection: rack (RFC 8985 RACK-TLP), sack (RFC 6675 DupThresh on the SACK scoreboard) "
      "or newreno (RFC 6582, duplicate ACKs only)",
      tcp_choice<tcp::RecoveryMode>(&TcpConfig::recovery, {{"rack", tcp::RecoveryMode::Rack},
                                                           {"sack", tcp::RecoveryMode::Sack},
                                                           {"newreno", tcp::RecoveryMode::NewReno}}));
  tcp("prr", "Proportional Rate Reduction in recovery (RFC 6937; off: cwnd drops to ssthresh at once)",
      tcp_bool(&TcpConfig::prr));
  tcp("undo", "undo spurious reductions found by D-SACK (RFC 3708) or timestamps (Eifel, RFC 3522)",
      tcp_bool(&TcpConfig::undo));
  tcp("tlp", "tail loss probe (RFC 8985 7; with recovery = rack)", tcp_bool(&TcpConfig::tlp));
  tcp("pacing",
      "pacing: auto (when the controller asks, as BBR does), on (always; 2x or 1.2x cwnd/srtt as Linux) or off",
      tcp_choice<tcp::PacingMode>(&TcpConfig::pacing, {{"auto", tcp::PacingMode::Auto},
                                                       {"on", tcp::PacingMode::On},
                                                       {"off", tcp::PacingMode::Off}}));
  tcp("dupthresh", "duplicate ACKs / SACKed segments that mark a loss (RFC 6675 DupThresh; recovery = sack or newreno)",
      tcp_uint(&TcpConfig::dupthresh, 1, 1000));
  tcp("hystart", "HyStart++ slow-start exit (RFC 9406) for cubic", cc_bool(&tcp::CcParams::hystart));
  tcp("cubic_beta", "CUBIC multiplicative decrease factor (RFC 9438 4.6: 0.7)",
      cc_real(&tcp::CcParams::cubic_beta, 0.0, 0.99));
  tcp("cubic_c", "CUBIC aggressiveness constant C (RFC 9438 4.2: 0.4)", cc_real(&tcp::CcParams::cubic_c, 0.0, 100.0));
  tcp("cubic_fast_convergence", "CUBIC fast convergence (RFC 9438 4.7)",
      cc_bool(&tcp::CcParams::cubic_fast_convergence));
  tcp("cubic_reno_friendly", "CUBIC's Reno-friendly region (RFC 9438 4.3)",
      cc_bool(&tcp::CcParams::cubic_reno_friendly));
}

std::string bytes_text(std::uint64_t n) { return std::to_string(n); }

}  // namespace

void add_tcp_settings(const AddSetting& add) {
  // TOML key tcp.NAME, flag --tcp-NAME (underscores as dashes).
  auto tcp = [&add](const std::string& name, std::string help, Setter set) {
    std::string flag = "--tcp-" + name;
    for (char& ch : flag)
      if (ch == '_') ch = '-';
    add("tcp." + name, flag, set.kind, std::move(help), std::move(set.apply));
  };
  add_buffers_and_timers(tcp);
  add_table_and_options(tcp);
  add_sender(tcp);
}

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

}  // namespace tunstack::daemon::detail
