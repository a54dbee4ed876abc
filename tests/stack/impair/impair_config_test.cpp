// The impairment spec: what parses, what it means, the canonical text, and errors that name the
// token at fault.
#include "stack/impair/config.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace tunstack::impair {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(ImpairSpec, ParsesTheFullExample) {
  auto c = parse_spec("loss=2% dup=1% reorder=25% gap=5ms delay=10ms jitter=1ms rate=100mbit queue=1000 seed=7");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_DOUBLE_EQ(c->loss, 0.02);
  EXPECT_DOUBLE_EQ(c->duplicate, 0.01);
  EXPECT_DOUBLE_EQ(c->reorder, 0.25);
  EXPECT_EQ(c->gap, milliseconds(5));
  EXPECT_EQ(c->delay, milliseconds(10));
  EXPECT_EQ(c->jitter, milliseconds(1));
  EXPECT_EQ(c->rate_bps, 100'000'000u);
  EXPECT_EQ(c->queue_packets, 1000u);
  EXPECT_EQ(c->queue_bytes, 0u);
  EXPECT_EQ(c->seed, 7u);
  EXPECT_TRUE(c->enabled());
}

TEST(ImpairSpec, EmptyAndOffAreDisabled) {
  for (const char* s : {"", "off", "none", "   ", " off "}) {
    auto c = parse_spec(s);
    ASSERT_TRUE(c.ok()) << s << ": " << c.error();
    EXPECT_FALSE(c->enabled()) << s;
    EXPECT_EQ(*c, ImpairConfig{}) << s;
  }
  EXPECT_EQ(to_string(ImpairConfig{}), "off");
  // A seed alone impairs nothing.
  auto c = parse_spec("seed=3");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->enabled());
}

TEST(ImpairSpec, Units) {
  auto c = parse_spec("delay=1.5ms jitter=250us rate=1.5gbit queue=64kb");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->delay, microseconds(1500));
  EXPECT_EQ(c->jitter, microseconds(250));
  EXPECT_EQ(c->rate_bps, 1'500'000'000u);
  EXPECT_EQ(c->queue_bytes, 64'000u);
  c = parse_spec("delay=2s rate=512kbit queue=256KiB");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->delay, std::chrono::seconds(2));
  EXPECT_EQ(c->rate_bps, 512'000u);
  EXPECT_EQ(c->queue_bytes, 256u * 1024u);
  c = parse_spec("rate=10Mbit queue=20p delay=100ns");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->rate_bps, 10'000'000u);
  EXPECT_EQ(c->queue_packets, 20u);
  EXPECT_EQ(c->delay, std::chrono::nanoseconds(100));
  c = parse_spec("loss=0.5% seed=0x10 limit=50");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_DOUBLE_EQ(c->loss, 0.005);
  EXPECT_EQ(c->seed, 16u);
  EXPECT_EQ(c->limit, 50u);
}

TEST(ImpairSpec, GilbertElliott) {
  auto c = parse_spec("ge=1%,30%");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_DOUBLE_EQ(c->burst.p, 0.01);
  EXPECT_DOUBLE_EQ(c->burst.r, 0.30);
  EXPECT_DOUBLE_EQ(c->burst.bad_loss, 1.0);
  EXPECT_DOUBLE_EQ(c->burst.good_loss, 0.0);
  c = parse_spec("ge=1%,30%,80%,0.1%");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_DOUBLE_EQ(c->burst.bad_loss, 0.8);
  EXPECT_DOUBLE_EQ(c->burst.good_loss, 0.001);
  EXPECT_TRUE(c->enabled());
}

TEST(ImpairSpec, CanonicalTextRoundTrips) {
  const char* specs[] = {
      "loss=2% dup=1% reorder=25% gap=5ms delay=10ms jitter=1ms rate=100mbit queue=1000 seed=7",
      "ge=1%,30%,80%,0.1% seed=1",
      "delay=1500us rate=7mbit queue=64000b limit=500 seed=99",
      "loss=0.25% rate=1234567bit queue=3 seed=18446744073709551615",
      "reorder=10% delay=20ms seed=1",
  };
  for (const char* s : specs) {
    auto c = parse_spec(s);
    ASSERT_TRUE(c.ok()) << s << ": " << c.error();
    EXPECT_EQ(to_string(*c), s);
    auto again = parse_spec(to_string(*c));
    ASSERT_TRUE(again.ok()) << again.error();
    EXPECT_EQ(*again, *c) << s;
  }
  // Defaults are implied; the seed is always shown on an impairing config.
  auto c = parse_spec("rate=1gbit loss=1%");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(to_string(*c), "loss=1% rate=1gbit queue=1000 seed=1");
}

/// The error of parsing `spec`, which must fail.
std::string error_of(const char* spec) {
  auto c = parse_spec(spec);
  EXPECT_FALSE(c.ok()) << spec << " parsed as " << (c.ok() ? to_string(*c) : "");
  return c.ok() ? std::string() : c.error();
}

TEST(ImpairSpec, ErrorsNameTheToken) {
  struct Case {
    const char* spec;
    const char* expect;  // substring of the error
  };
  const Case cases[] = {
      {"loss=2", "'loss=2': expects a percentage"},
      {"delay=10ms loss=101%", "'loss=101%'"},
      {"loss=-1%", "'loss=-1%'"},
      {"los=2%", "unknown key 'los'"},
      {"delay=10", "'delay=10': expects a duration"},
      {"delay=10 ms", "'delay=10'"},
      {"delay=2h", "'delay=2h'"},
      {"rate=100", "'rate=100': expects a rate"},
      {"rate=100mbps", "'rate=100mbps'"},
      {"rate=0mbit", "'rate=0mbit'"},
      {"rate=1mbit queue=0", "'queue=0'"},
      {"rate=1mbit queue=2.5", "'queue=2.5'"},
      {"rate=1mbit queue=lots", "'queue=lots'"},
      {"queue=100", "queue= needs rate="},
      {"limit=0", "'limit=0'"},
      {"seed=-1", "'seed=-1'"},
      {"seed=12abc", "'seed=12abc'"},
      {"loss", "'loss': expects key=value"},
      {"=5%", "'=5%'"},
      {"off loss=1%", "'off'"},
      {"loss=1% loss=2%", "loss given twice"},
      {"ge=1%", "'ge=1%'"},
      {"ge=0%,30%", "'ge=0%,30%'"},
      {"ge=1%,30%,1%,1%,1%", "'ge=1%,30%,1%,1%,1%'"},
      {"loss=1% ge=1%,30%", "exclusive"},
      {"reorder=25%", "reorder=25% has no effect alone"},
      {"gap=5ms delay=10ms", "gap=5ms needs reorder="},
      {"delay=1ms jitter=2ms", "jitter=2ms exceeds delay=1ms"},
      {"rate=1mbit queue=20000", "queue=20000 exceeds limit=10000"},
  };
  for (const Case& c : cases) {
    const std::string e = error_of(c.spec);
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.spec << " -> " << e;
  }
}

TEST(ImpairSpec, CheckCatchesConfigsBuiltInCode) {
  ImpairConfig c;
  EXPECT_TRUE(check(c).ok());
  c.loss = 1.5;
  EXPECT_FALSE(check(c).ok());
  c.loss = 0.1;
  EXPECT_TRUE(check(c).ok());
  c.reorder = 0.2;
  EXPECT_FALSE(check(c).ok());  // nothing to reorder against
  c.delay = milliseconds(5);
  EXPECT_TRUE(check(c).ok());
  c.duplicate = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(check(c).ok());
}

}  // namespace
}  // namespace tunstack::impair
