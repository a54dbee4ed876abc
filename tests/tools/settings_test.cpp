#include "tools/tunstackd/settings.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

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

}  // namespace
}  // namespace tunstack::daemon
