// tunstackd: the tunstack gateway daemon. Opens a TUN device, terminates what arrives on it with
// the tunstack core, and carries every flow on through the chosen outbound.
//
// Exit codes: 0 clean stop (SIGINT/SIGTERM), 1 runtime failure, 2 bad flags or configuration,
// 3 missing privileges or device.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "dispatch/registry.hpp"
#include "tools/tunstackd/gateway.hpp"
#include "tun/device.hpp"
#include "tun/loop.hpp"

namespace tunstack::daemon {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
constexpr int kExitEnvironment = 3;

/// Tells systemd (Type=notify) that we are ready, without linking libsystemd.
void sd_notify_ready() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract socket
  const char msg[] = "READY=1";
  ::sendto(fd, msg, sizeof msg - 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);  // NOLINT
  ::close(fd);
}

/// Every UDP mapping holds a socket: lift the soft descriptor limit to the hard one, and keep
/// the NAT caps within it (a full table must evict, never fail to open sockets).
void fit_fd_limit(Settings& s) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  constexpr std::size_t kReserve = 256;  // the TUN, the ring, logs, stats, pings
  const std::size_t usable = rl.rlim_cur > kReserve * 2 ? rl.rlim_cur - kReserve : kReserve;
  const std::size_t want = s.nat.max_mappings + std::max<std::size_t>(64, s.nat.max_mappings / 16);
  if (want > usable) {
    const std::size_t fit = usable * 16 / 17;
    spdlog::warn("nat.max_mappings {} needs more descriptors than RLIMIT_NOFILE {} allows; using {}",
                 s.nat.max_mappings, rl.rlim_cur, fit);
    s.nat.max_mappings = fit;
  }
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("tunstackd");
  // Under journald, timestamps and levels are the journal's job.
  if (std::getenv("JOURNAL_STREAM") != nullptr) logger->set_pattern("%l: %v");
  else logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

int run(Settings s) {
  fit_fd_limit(s);
  dispatch::register_builtin_outbounds();
  BufPool::Config pc;
  pc.max_bytes = s.pool_bytes;
  BufPool pool(pc);

  tun::DeviceConfig dc;
  dc.name = s.tun_name;
  dc.mtu = s.mtu;
  dc.up = true;
  if (s.tun_txqueuelen != 0) dc.tx_queue_len = s.tun_txqueuelen;
  auto dev = s.tun_fd >= 0 ? tun::Device::adopt_fd(s.tun_fd) : tun::Device::open(dc);
  if (!dev) {
    spdlog::error("cannot open the TUN device: {}", dev.error());
    return kExitEnvironment;
  }
  const std::string dev_name = dev->name();
  tun::Loop::Config lc;
  lc.rx_depth = s.tun_reads;
  if (s.rx_mode == "reads") lc.rx_mode = tun::Loop::RxMode::Reads;
  if (s.rx_mode == "multishot") lc.rx_mode = tun::Loop::RxMode::MultishotRing;
  auto loop = tun::Loop::create(pool, std::move(*dev), lc);
  if (!loop) {
    spdlog::error("cannot set up io_uring: {}", loop.error());
    return kExitEnvironment;
  }

  dispatch::TaskQueue tasks;
  dispatch::OutboundContext ctx;
  ctx.loop = loop->get();
  ctx.pool = &pool;
  ctx.tasks = &tasks;
  if (s.mark != 0) ctx.options["mark"] = std::to_string(s.mark);
  if (!s.bind_interface.empty()) ctx.options["bind_interface"] = s.bind_interface;
  ctx.options["udp_queue"] = std::to_string(s.udp_queue);
  auto outbound = dispatch::OutboundRegistry::instance().create(s.outbound, ctx);
  if (!outbound) {
    spdlog::error("{}", outbound.error());
    return kExitUsage;
  }

  std::unique_ptr<TraceWriter> trace;
  if (!s.trace.path.empty()) {
    auto w = TraceWriter::open(s.trace);
    if (!w) {
      spdlog::error("{}", w.error());
      return kExitUsage;
    }
    trace = std::move(*w);
  }
  Gateway gw(s, **loop, pool, tasks, std::move(*outbound));
  if (trace) {
    gw.set_trace_writer(trace.get());
    spdlog::info("tracing TCP senders to {} (filter '{}', 1 in {} flows)", s.trace.path, s.trace.filter,
                 s.trace.sample);
  }
  spdlog::info("tunstackd up: device {} mtu {} outbound {} (settings from {}); nat cap {} idle {}s",
               dev_name, s.mtu, s.outbound, s.source, s.nat.max_mappings,
               std::chrono::duration_cast<std::chrono::seconds>(s.nat.idle_timeout).count());
  if (s.impair_rx.enabled() || s.impair_tx.enabled())
    spdlog::warn("fault injection on: rx (from the TUN) {}; tx (to the TUN) {}",
                 impair::to_string(s.impair_rx), impair::to_string(s.impair_tx));
  if (s.nat.idle_timeout < std::chrono::minutes(2))
    spdlog::warn("UDP idle timeout below 2 minutes (RFC 4787 REQ-5 asks for at least 2)");
  sd_notify_ready();
  auto st = (*loop)->run(gw);
  if (trace) trace->flush();
  if (!s.stats_file.empty()) gw.write_stats(s.stats_file);
  std::string summary;
  gw.visit_counters([&](std::string_view n, std::uint64_t v) {
    if (v != 0) summary += " " + std::string(n) + "=" + std::to_string(v);
  });
  spdlog::info("stopped; counters:{}", summary);
  if (!st) {
    spdlog::error("event loop failed: {}", st.error());
    return kExitRuntime;
  }
  return 0;
}

}  // namespace
}  // namespace tunstack::daemon

int main(int argc, char** argv) {
  using namespace tunstack::daemon;
  CLI::App app{"tunstackd: userspace TCP/IP gateway for a TUN device"};
  app.set_version_flag("--version", "tunstackd 0.1.0");
  std::string config_file;
  bool list_outbounds = false;
  bool check_only = false;
  app.add_option("-c,--config", config_file, "TOML settings file (flags override it)")->check(CLI::ExistingFile);
  app.add_flag("--list-outbounds", list_outbounds, "list the outbounds that can be chosen and exit");
  app.add_flag("--check-config", check_only, "validate settings and exit");
  std::map<std::string, std::string> given;
  for (const auto& spec : setting_specs()) {
    app.add_option_function<std::string>(
        spec.flag, [&given, flag = spec.flag](const std::string& v) { given[flag] = v; },
        spec.help + "  [" + spec.key + "]");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  setup_logging("info");
  if (list_outbounds) {
    tunstack::dispatch::register_builtin_outbounds();
    for (auto& [name, desc] : tunstack::dispatch::OutboundRegistry::instance().list())
      std::printf("%-10s %s\n", name.c_str(), desc.c_str());
    return 0;
  }
  Settings s;
  if (!config_file.empty()) {
    if (auto st = load_toml(config_file, s); !st) {
      spdlog::error("{}", st.error());
      return 2;
    }
  }
  for (auto& [flag, value] : given) {
    if (auto st = apply_setting(s, flag, value); !st) {
      spdlog::error("{}", st.error());
      return 2;
    }
  }
  if (!given.empty()) s.source = config_file.empty() ? "flags" : config_file + " + flags";
  if (auto st = validate(s); !st) {
    spdlog::error("{}", st.error());
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(s.log_level));
  tunstack::dispatch::register_builtin_outbounds();
  if (!tunstack::dispatch::OutboundRegistry::instance().contains(s.outbound)) {
    std::string names;
    for (auto& [name, desc] : tunstack::dispatch::OutboundRegistry::instance().list()) names += " " + name;
    spdlog::error("unknown outbound '{}'; available:{}", s.outbound, names);
    return 2;
  }
  if (check_only) {
    spdlog::info("settings OK ({})", s.source);
    return 0;
  }
  if (::geteuid() != 0) spdlog::warn("not running as root: opening a TUN needs CAP_NET_ADMIN");
  return run(s);
}
