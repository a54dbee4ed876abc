#include <algorithm>
#include "tools/tunstackd/settings.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace tunstack::daemon {
namespace {

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/tunstackd-settings-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(Settings, DurationsParse) {
  EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("30s"), std::chrono::seconds(30));
  EXPECT_EQ(parse_duration("30"), std::chrono::seconds(30));
  EXPECT_EQ(parse_duration("5m"), std::chrono::minutes(5));
  EXPECT_EQ(parse_duration("2h"), std::chrono::hours(2));
  EXPECT_FALSE(parse_duration("5 m"));
  EXPECT_FALSE(parse_duration("m"));
  EXPECT_FALSE(parse_duration("-5s"));
  EXPECT_FALSE(parse_duration("5d"));
}

TEST(Settings, FlagsAndKeysShareOneValidator) {
  Settings s;
  EXPECT_TRUE(apply_setting(s, "--mtu", "1400").ok());
  EXPECT_EQ(s.mtu, 1400u);
  EXPECT_TRUE(apply_setting(s, "tun.mtu", "9000").ok());
  EXPECT_EQ(s.mtu, 9000u);
  auto bad = apply_setting(s, "--mtu", "100");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("576 to 65535"), std::string::npos) << bad.error();
  EXPECT_FALSE(apply_setting(s, "--mark", "0x1ffffffff").ok());
  EXPECT_TRUE(apply_setting(s, "--mark", "0x100").ok());
  EXPECT_EQ(s.mark, 0x100u);
  EXPECT_FALSE(apply_setting(s, "--no-such-flag", "1").ok());
  EXPECT_FALSE(apply_setting(s, "--log-level", "loud").ok());
}

TEST(Settings, LoadsTheExampleFile) {
  Settings s;
  auto st = load_toml(std::string(TUNSTACK_SOURCE_DIR) + "/tools/tunstackd/examples/tunstackd.toml", s);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(s.tun_name, "tun0");
  EXPECT_EQ(s.nat.idle_timeout, std::chrono::minutes(5));
  EXPECT_EQ(s.stats_interval, std::chrono::seconds(1));
}

TEST(Settings, BadLinesNameTheKeyAndLine) {
  Settings s;
  const std::string typo = write_temp("[nat]\nmax_mapings = 10\n");
  auto st = load_toml(typo, s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find(":2: unknown setting 'nat.max_mapings'"), std::string::npos) << st.error();

  const std::string wrong_type = write_temp("[tun]\nmtu = \"big\"\n");
  st = load_toml(wrong_type, s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("'tun.mtu' expects a non-negative integer"), std::string::npos) << st.error();

  const std::string bad_value = write_temp("[nat]\nidle_timeout = \"soon\"\n");
  st = load_toml(bad_value, s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("nat.idle_timeout"), std::string::npos) << st.error();

  const std::string syntax = write_temp("[nat\n");
  st = load_toml(syntax, s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find(":1:"), std::string::npos) << st.error();

  const std::string top_level = write_temp("mtu = 1500\n");
  EXPECT_FALSE(load_toml(top_level, s).ok());
  for (const auto& p : {typo, wrong_type, bad_value, syntax, top_level}) std::remove(p.c_str());
}

TEST(Settings, ValidateNamesTheProblem) {
  Settings s;
  s.tun_name = "a-name-longer-than-15";
  auto st = validate(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("longer than 15"), std::string::npos);
}

TEST(Settings, ImpairSpecsFromFlagsAndKeys) {
  Settings s;
  EXPECT_FALSE(s.impair_rx.enabled());
  EXPECT_FALSE(s.impair_tx.enabled());
  ASSERT_TRUE(apply_setting(s, "--impair-rx", "loss=2% delay=10ms jitter=1ms seed=7").ok());
  EXPECT_DOUBLE_EQ(s.impair_rx.loss, 0.02);
  EXPECT_EQ(s.impair_rx.delay, std::chrono::milliseconds(10));
  EXPECT_EQ(s.impair_rx.seed, 7u);
  EXPECT_FALSE(s.impair_tx.enabled());
  ASSERT_TRUE(apply_setting(s, "impair.tx", "rate=100mbit queue=1000").ok());
  EXPECT_EQ(s.impair_tx.rate_bps, 100'000'000u);
  ASSERT_TRUE(apply_setting(s, "--impair-rx", "off").ok());
  EXPECT_FALSE(s.impair_rx.enabled());

  auto bad = apply_setting(s, "--impair-rx", "loss=2 delay=10ms");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("--impair-rx (impair.rx) bad token 'loss=2'"), std::string::npos) << bad.error();
  bad = apply_setting(s, "impair.tx", "reorder=25%");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("reorder=25% has no effect alone"), std::string::npos) << bad.error();
}

TEST(Settings, TcpKeysLandInTheEngineConfig) {
  Settings s;
  struct Case {
    const char* flag;
    const char* value;
  };
  for (auto [flag, value] : {Case{"--tcp-rcv-buf", "1048576"}, Case{"tcp.snd_buf", "524288"},
                             Case{"--tcp-min-buf", "8192"}, Case{"--tcp-max-buf", "33554432"},
                             Case{"--tcp-initial-window", "4"}, Case{"tcp.rto_initial", "2s"},
                             Case{"--tcp-rto-min", "100ms"}, Case{"--tcp-rto-max", "2m"},
                             Case{"--tcp-delack", "20ms"}, Case{"--tcp-time-wait", "0"},
                             Case{"--tcp-fin-wait2-timeout", "30s"}, Case{"--tcp-connect-timeout", "10s"},
                             Case{"--tcp-max-retries", "5"}, Case{"--tcp-synack-retries", "0"},
                             Case{"--tcp-keepalive-idle", "2h"}, Case{"--tcp-keepalive-interval", "10s"},
                             Case{"--tcp-keepalive-probes", "3"}, Case{"--tcp-max-half-open", "64"},
                             Case{"--tcp-max-connections", "128"}, Case{"--tcp-quickack", "0"},
                             Case{"--tcp-immediate-synack", "true"}, Case{"--tcp-sack", "false"},
                             Case{"--tcp-timestamps", "off"}, Case{"--tcp-window-scale", "no"},
                             Case{"--tcp-cc", "newreno"}}) {
    auto st = apply_setting(s, flag, value);
    EXPECT_TRUE(st.ok()) << flag << ": " << st.error();
  }
  const tcp::TcpConfig& t = s.tcp;
  EXPECT_EQ(t.rcv_buf, 1048576u);
  EXPECT_EQ(t.snd_buf, 524288u);
  EXPECT_EQ(t.min_buf, 8192u);
  EXPECT_EQ(t.max_buf, 33554432u);
  EXPECT_EQ(t.initial_window_segments, 4u);
  EXPECT_EQ(t.rto_initial, std::chrono::seconds(2));
  EXPECT_EQ(t.rto_min, std::chrono::milliseconds(100));
  EXPECT_EQ(t.rto_max, std::chrono::minutes(2));
  EXPECT_EQ(t.delack_timeout, std::chrono::milliseconds(20));
  EXPECT_EQ(t.time_wait, Duration{0});
  EXPECT_EQ(t.fin_wait2_timeout, std::chrono::seconds(30));
  EXPECT_EQ(t.connect_timeout, std::chrono::seconds(10));
  EXPECT_EQ(t.max_retries, 5u);
  EXPECT_EQ(t.synack_retries, 0u);
  EXPECT_EQ(t.keepalive_idle, std::chrono::hours(2));
  EXPECT_EQ(t.keepalive_interval, std::chrono::seconds(10));
  EXPECT_EQ(t.keepalive_probes, 3u);
  EXPECT_EQ(t.max_half_open, 64u);
  EXPECT_EQ(t.max_connections, 128u);
  EXPECT_EQ(t.quickack_segments, 0u);
  EXPECT_TRUE(t.immediate_synack);
  EXPECT_FALSE(t.sack);
  EXPECT_FALSE(t.timestamps);
  EXPECT_FALSE(t.window_scale);
  EXPECT_EQ(t.cc, "newreno");
  EXPECT_TRUE(validate(s).ok()) << validate(s).error();
}

TEST(Settings, TcpValuesOutOfRangeAreRefused) {
  Settings s;
  auto expect_error = [&](const char* flag, const char* value, const char* text) {
    auto st = apply_setting(s, flag, value);
    ASSERT_FALSE(st.ok()) << flag << " " << value;
    EXPECT_NE(st.error().find(text), std::string::npos) << st.error();
  };
  expect_error("--tcp-rcv-buf", "100", "from 1024 to 1073741824");
  expect_error("--tcp-initial-window", "0", "from 1 to 1000");
  expect_error("--tcp-rto-min", "0ms", "from 1ms to 10m");
  expect_error("--tcp-delack", "600ms", "from 0ms to 500ms");
  expect_error("--tcp-rto-max", "soon", "got 'soon'");
  expect_error("--tcp-sack", "maybe", "true or false");
  expect_error("--tcp-cc", "vegas", "expects one of cubic, newreno, bbr; got 'vegas'");
  expect_error("tcp.no_such_knob", "1", "unknown setting");
  EXPECT_EQ(s.tcp.cc, "cubic");
}

TEST(Settings, SenderKnobsFromFlagsAndToml) {
  Settings s;
  for (auto [flag, value] : {std::pair{"--tcp-recovery", "sack"}, std::pair{"--tcp-prr", "false"},
                             std::pair{"--tcp-undo", "off"}, std::pair{"--tcp-tlp", "no"},
                             std::pair{"--tcp-pacing", "on"}, std::pair{"--tcp-dupthresh", "5"},
                             std::pair{"--tcp-hystart", "false"}, std::pair{"--tcp-cubic-beta", "0.5"},
                             std::pair{"--tcp-cubic-c", "0.8"}, std::pair{"--tcp-cubic-fast-convergence", "false"},
                             std::pair{"--tcp-cubic-reno-friendly", "false"}, std::pair{"--tcp-cc", "bbr"}}) {
    auto st = apply_setting(s, flag, value);
    EXPECT_TRUE(st.ok()) << flag << ": " << st.error();
  }
  const tcp::TcpConfig& t = s.tcp;
  EXPECT_EQ(t.recovery, tcp::RecoveryMode::Sack);
  EXPECT_FALSE(t.prr);
  EXPECT_FALSE(t.undo);
  EXPECT_FALSE(t.tlp);
  EXPECT_EQ(t.pacing, tcp::PacingMode::On);
  EXPECT_EQ(t.dupthresh, 5u);
  EXPECT_FALSE(t.cc_params.hystart);
  EXPECT_DOUBLE_EQ(t.cc_params.cubic_beta, 0.5);
  EXPECT_DOUBLE_EQ(t.cc_params.cubic_c, 0.8);
  EXPECT_FALSE(t.cc_params.cubic_fast_convergence);
  EXPECT_FALSE(t.cc_params.cubic_reno_friendly);
  EXPECT_EQ(t.cc, "bbr");

  auto expect_error = [&](const char* flag, const char* value, const char* text) {
    auto st = apply_setting(s, flag, value);
    ASSERT_FALSE(st.ok()) << flag << " " << value;
    EXPECT_NE(st.error().find(text), std::string::npos) << st.error();
  };
  expect_error("--tcp-recovery", "fack", "expects one of rack, sack, newreno; got 'fack'");
  expect_error("--tcp-pacing", "fast", "expects one of auto, on, off");
  expect_error("--tcp-cubic-beta", "1.5", "got '1.5'");
  expect_error("--tcp-cubic-beta", "0", "a number above");
  expect_error("--tcp-cubic-c", "0.4x", "got '0.4x'");
  expect_error("--tcp-dupthresh", "0", "from 1 to 1000");
  EXPECT_EQ(s.tcp.recovery, tcp::RecoveryMode::Sack);  // a refused value changes nothing

  Settings f;
  const std::string path = write_temp(
      "[tcp]\nrecovery = \"newreno\"\npacing = \"off\"\ncubic_beta = 0.8\ncubic_c = 1\nhystart = false\n");
  auto st = load_toml(path, f);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(f.tcp.recovery, tcp::RecoveryMode::NewReno);
  EXPECT_EQ(f.tcp.pacing, tcp::PacingMode::Off);
  EXPECT_DOUBLE_EQ(f.tcp.cc_params.cubic_beta, 0.8);
  EXPECT_DOUBLE_EQ(f.tcp.cc_params.cubic_c, 1.0);  // an integer is a number too
  EXPECT_FALSE(f.tcp.cc_params.hystart);
  const std::string wrong = write_temp("[tcp]\ncubic_beta = \"0.7\"\n");
  st = load_toml(wrong, f);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find(":2: 'tcp.cubic_beta' expects a number"), std::string::npos) << st.error();
  for (const auto& p : {path, wrong}) std::remove(p.c_str());
}

TEST(Settings, TraceKeys) {
  Settings s;
  for (auto [flag, value] : {std::pair{"--trace-file", "/tmp/t.csv"}, std::pair{"--trace-format", "jsonl"},
                             std::pair{"--trace-filter", "host=198.19.0.0/24 port=5201"},
                             std::pair{"--trace-sample", "10"}, std::pair{"trace.max_buffer", "1048576"}}) {
    auto st = apply_setting(s, flag, value);
    EXPECT_TRUE(st.ok()) << flag << ": " << st.error();
  }
  EXPECT_EQ(s.trace.path, "/tmp/t.csv");
  EXPECT_EQ(s.trace.format, TraceOptions::Format::Jsonl);
  EXPECT_EQ(s.trace.filter, "host=198.19.0.0/24 port=5201");
  EXPECT_EQ(s.trace.sample, 10u);
  EXPECT_EQ(s.trace.max_buffer, 1048576u);
  auto bad = apply_setting(s, "--trace-filter", "host=198.19.0.0/40");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("host=198.19.0.0/40"), std::string::npos) << bad.error();
  EXPECT_FALSE(apply_setting(s, "--trace-format", "xml").ok());
  EXPECT_FALSE(apply_setting(s, "--trace-sample", "0").ok());
  EXPECT_FALSE(apply_setting(s, "--trace-max-buffer", "100").ok());
  EXPECT_TRUE(apply_setting(s, "--trace-max-buffer", "4096").ok());
}

TEST(Settings, SecurityAllowListFromFlagAndTomlArray) {
  Settings s;
  EXPECT_TRUE(s.block_own_host);
  ASSERT_TRUE(apply_setting(s, "--allow", "127.0.0.1:53,[::1]:53").ok());
  EXPECT_EQ(s.allow, "127.0.0.1:53,[::1]:53");
  ASSERT_TRUE(apply_setting(s, "--block-own-host", "false").ok());
  EXPECT_FALSE(s.block_own_host);
  auto bad = apply_setting(s, "--allow", "127.0.0.1:99999");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("127.0.0.1:99999"), std::string::npos) << bad.error();

  Settings f;
  const std::string path = write_temp("[security]\nallow = [\"198.19.0.1:8080-8090\", \"fe80::/10\"]\n");
  auto st = load_toml(path, f);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(f.allow, "198.19.0.1:8080-8090,fe80::/10");
  const std::string wrong = write_temp("[security]\n\nallow = [\"198.19.0.1\", 5]\n");
  st = load_toml(wrong, f);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find(":3: 'security.allow' expects a string"), std::string::npos) << st.error();
  const std::string bad_entry = write_temp("[security]\nallow = [\"localhost:53\"]\n");
  st = load_toml(bad_entry, f);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("allow entry 'localhost:53'"), std::string::npos) << st.error();
  for (const auto& p : {path, wrong, bad_entry}) std::remove(p.c_str());
}

TEST(Settings, CongestionControlNameOutlivesTheSettings) {
  Settings copy;
  {
    Settings s;
    ASSERT_TRUE(apply_setting(s, "tcp.cc", std::string("newreno")).ok());
    copy = s;
  }
  ASSERT_FALSE(tcp::cc_algorithms().empty());
  const auto algos = tcp::cc_algorithms();
  const auto it = std::find_if(algos.begin(), algos.end(), [](const tcp::CcAlgorithm& a) { return a.name == "newreno"; });
  ASSERT_NE(it, algos.end());
  EXPECT_EQ(copy.tcp.cc.data(), it->name.data());  // static storage, not the Settings
  EXPECT_EQ(copy.tcp.cc, "newreno");
}

TEST(Settings, MtuFollowsIntoTheTcpConfig) {
  Settings s;
  EXPECT_EQ(s.tcp.mtu, s.mtu);
  ASSERT_TRUE(apply_setting(s, "--mtu", "9000").ok());
  EXPECT_EQ(s.tcp.mtu, 9000u);
  // Every buffer must now hold a 9000-byte segment: the default min_buf (4 KiB) no longer does.
  auto st = validate(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("tcp.min_buf (4096) is below the MTU (9000)"), std::string::npos) << st.error();
  ASSERT_TRUE(apply_setting(s, "--tcp-min-buf", "16384").ok());
  EXPECT_TRUE(validate(s).ok()) << validate(s).error();
}

TEST(Settings, ValidateChecksTcpAndImpairRules) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> set;
    const char* expect;
  };
  const Case cases[] = {
      {{{"--tcp-rto-min", "2s"}}, "tcp.rto_min (2s) <= tcp.rto_initial (1s) <= tcp.rto_max (1m)"},
      {{{"--tcp-rto-initial", "2m"}}, "does not hold"},
      {{{"--tcp-delack", "300ms"}}, "tcp.delack (300ms) must be below tcp.rto_min (200ms)"},
      {{{"--tcp-min-buf", "1048576"}, {"--tcp-max-buf", "65536"}}, "tcp.min_buf (1048576) is above tcp.max_buf"},
      {{{"--tcp-rcv-buf", "33554432"}}, "tcp.rcv_buf (33554432) is outside tcp.min_buf..tcp.max_buf"},
      {{{"--tcp-max-connections", "100"}}, "tcp.max_half_open (1024) is above tcp.max_connections (100)"},
      {{{"--impair-tx", "rate=10mbit queue=1000b"}}, "impair.tx: queue=1000b is below the MTU (1500)"},
  };
  for (const Case& c : cases) {
    Settings s;
    for (const auto& [k, v] : c.set) ASSERT_TRUE(apply_setting(s, k, v).ok()) << k << " " << v;
    auto st = validate(s);
    ASSERT_FALSE(st.ok()) << c.expect;
    EXPECT_NE(st.error().find(c.expect), std::string::npos) << st.error();
  }
  Settings fine;
  ASSERT_TRUE(apply_setting(fine, "--impair-tx", "rate=10mbit queue=64kb").ok());
  EXPECT_TRUE(validate(fine).ok());
  fine.impair_rx.loss = 2.0;  // set in code, bypassing the parser
  auto st = validate(fine);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("impair.rx: probabilities"), std::string::npos) << st.error();
}

TEST(Settings, EveryKeyAndFlagIsUnique) {
  std::set<std::string> keys, flags;
  for (const auto& spec : setting_specs()) {
    EXPECT_TRUE(keys.insert(spec.key).second) << spec.key;
    EXPECT_TRUE(flags.insert(spec.flag).second) << spec.flag;
    EXPECT_FALSE(spec.help.empty()) << spec.key;
  }
  EXPECT_TRUE(keys.count("tcp.fin_wait2_timeout"));
  EXPECT_TRUE(flags.count("--tcp-fin-wait2-timeout"));
  EXPECT_TRUE(keys.count("impair.rx"));
  EXPECT_TRUE(flags.count("--impair-tx"));
}

TEST(Settings, TomlSectionsForTcpAndImpair) {
  Settings s;
  const std::string good = write_temp(
      "[tcp]\nrcv_buf = 1048576\nrto_min = \"100ms\"\nsack = false\ncc = \"newreno\"\n"
      "keepalive_idle = 7200\n[impair]\nrx = \"loss=1% seed=3\"\ntx = \"delay=20ms\"\n");
  auto st = load_toml(good, s);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(s.tcp.rcv_buf, 1048576u);
  EXPECT_EQ(s.tcp.rto_min, std::chrono::milliseconds(100));
  EXPECT_FALSE(s.tcp.sack);
  EXPECT_EQ(s.tcp.keepalive_idle, std::chrono::hours(2));  // a bare number is seconds
  EXPECT_DOUBLE_EQ(s.impair_rx.loss, 0.01);
  EXPECT_EQ(s.impair_tx.delay, std::chrono::milliseconds(20));

  const std::string wrong_type = write_temp("[tcp]\nsack = \"yes\"\n");
  st = load_toml(wrong_type, s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find(":2: 'tcp.sack' expects true or false"), std::string::npos) << st.error();

  const std::string bad_spec = write_temp("[impair]\n\nrx = \"loss=1% dealy=5ms\"\n");
  st = load_toml(bad_spec, s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find(":3: 'impair.rx' bad token 'dealy=5ms': unknown key 'dealy'"), std::string::npos)
      << st.error();
  for (const auto& p : {good, wrong_type, bad_spec}) std::remove(p.c_str());
}

TEST(Settings, ExampleFileCommentedSettingsAreValid) {
  // The example file shows [tcp] and [impair] keys commented out ("# key = value"); uncommented,
  // every one of them must load and validate, so the examples cannot rot.
  std::ifstream in(std::string(TUNSTACK_SOURCE_DIR) + "/tools/tunstackd/examples/tunstackd.toml");
  ASSERT_TRUE(in);
  std::string line, text;
  int uncommented = 0;
  while (std::getline(in, line)) {
    const bool commented_key = line.rfind("# ", 0) == 0 && line.size() > 2 && line[2] >= 'a' &&
                               line[2] <= 'z' && line.find(" = ") != std::string::npos;
    if (commented_key) {
      line = line.substr(2);
      ++uncommented;
    }
    text += line + "\n";
  }
  EXPECT_GE(uncommented, 20);
  const std::string path = write_temp(text);
  Settings s;
  auto st = load_toml(path, s);
  ASSERT_TRUE(st.ok()) << st.error();
  auto v = validate(s);
  EXPECT_TRUE(v.ok()) << v.error();
  EXPECT_TRUE(s.impair_rx.enabled());
  EXPECT_TRUE(s.impair_tx.enabled());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tunstack::daemon
