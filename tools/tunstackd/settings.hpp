#pragma once
// The daemon's settings: one table of every knob, read from a TOML file and overridden by flags.
// Each setting is declared once (TOML key, flag, kind, help, where it lands), so the file and the
// command line accept the same values and fail with the same clear messages.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nat/udp_nat.hpp"
#include "stack/core/result.hpp"
#include "stack/core/time.hpp"
#include "stack/impair/config.hpp"
#include "stack/tcp/config.hpp"
#include "tools/tunstackd/trace_writer.hpp"

namespace tunstack::daemon {

/// Everything tunstackd can be told. Defaults are the safe ones.
struct Settings {
  // [tun]
  std::string tun_name = "tun0";
  int tun_fd = -1;                  ///< adopt this already-open TUN fd instead of opening by name
  std::uint32_t mtu = 1500;
  std::uint32_t tun_txqueuelen = 4096;  ///< TUN transmit queue (kernel -> daemon); 0: kernel default
  std::uint32_t tun_reads = 64;     ///< TUN reads kept outstanding on the ring
  std::string rx_mode = "auto";     ///< auto, reads (N single reads) or multishot (buffer ring)
  // [outbound]
  std::string outbound = "direct";
  std::uint32_t mark = 0;           ///< SO_MARK on every outbound socket (0 = none)
  std::string bind_interface;       ///< SO_BINDTODEVICE on every outbound socket
  std::uint32_t udp_queue = 256;    ///< datagrams queued per mapping toward the outbound
  // [nat]
  nat::UdpNatConfig nat;
  // [tcp]
  /// The TCP engine's settings, ready to hand to TcpLayer: tcp.mtu follows tun.mtu, and tcp.cc
  /// points at a static name from tcp::cc_algorithms() (so copying Settings never leaves it
  /// dangling).
  tcp::TcpConfig tcp;
  // [impair]
  impair::ImpairConfig impair_rx;   ///< TUN -> stack: the client's packets (off by default)
  impair::ImpairConfig impair_tx;   ///< stack -> TUN: packets toward the client (off by default)
  // [icmp]
  bool ping_local = false;          ///< answer echo requests ourselves instead of forwarding them
  // [log]
  std::string log_level = "info";
  // [stats]
  std::string stats_file;           ///< Prometheus text, rewritten every stats_interval
  Duration stats_interval = std::chrono::seconds(1);
  // [security]
  bool block_own_host = true;       ///< refuse flows to loopback, own addresses, reserved ranges
  std::string allow;                ///< allow-list entries (dispatch/guard.hpp), comma separated
  // [trace]
  TraceOptions trace;               ///< per-connection TCP sender traces (off: empty path)
  // [memory]
  std::uint64_t pool_bytes = 256ull << 20;  ///< cap on packet-buffer memory

  /// Where the settings came from, for the start-up log line.
  std::string source = "defaults";
};

/// One declared setting.
struct SettingSpec {
  enum class Kind { String, UInt, Bool, Real, Duration };
  std::string key;    ///< TOML "section.name"
  std::string flag;   ///< command-line "--name"
  Kind kind;
  std::string help;
  std::function<std::optional<std::string>(Settings&, const std::string& value)> apply;  ///< error text or nullopt
};

/// The table of all settings.
const std::vector<SettingSpec>& setting_specs();

/// Parses "250ms", "30s", "5m", "2h" (a bare number means seconds).
std::optional<Duration> parse_duration(const std::string& s);

/// Reads a TOML file into `s`; unknown keys, wrong types and bad values are errors naming the key
/// and line.
Status<std::string> load_toml(const std::string& path, Settings& s);

/// Applies one "key = value" (TOML key or flag name) to `s`.
Status<std::string> apply_setting(Settings& s, const std::string& key_or_flag, const std::string& value);

/// Checks cross-field rules (e.g. idle timeout >= 2 min unless --allow-short-timeouts;
/// tcp.rto_min <= tcp.rto_initial <= tcp.rto_max; buffers that hold at least one MTU).
Status<std::string> validate(const Settings& s);

}  // namespace tunstack::daemon
