// The daemon's trace writer: filter grammar, flow sampling, CSV and JSON-lines rows, the bounded
// buffer and failed writes (counted, never unbounded).
#include "tools/tunstackd/trace_writer.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace tunstack::daemon {
namespace {

Endpoint ep(const char* s) { return *Endpoint::parse(s); }

std::string temp_path() {
  char path[] = "/tmp/tunstackd-trace-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  return path;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

tcp::TraceSample sample(std::uint64_t flow, std::int64_t at_us, tcp::TraceEvent e) {
  tcp::TraceSample s;
  s.at = instant_from_ns(at_us * 1000);
  s.flow_id = flow;
  s.event = e;
  s.recovery = tcp::RecoveryState::Recovery;
  s.snd_una = 1000;
  s.snd_nxt = 5000;
  s.cwnd = 14480;
  s.ssthresh = 7240;
  s.in_flight = 4000;
  s.srtt = std::chrono::microseconds(20500);
  s.rto = std::chrono::milliseconds(220);
  s.rtt = std::chrono::microseconds(20100);
  s.cc_phase = "congestion_avoidance";
  return s;
}

TEST(TraceFilter, GrammarAndMatching) {
  auto f = parse_trace_filter("host=198.19.0.0/24 port=5201-5202");
  ASSERT_TRUE(f.ok()) << f.error();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_TRUE((*f)[0].matches(ep("198.19.0.2:80")));
  EXPECT_FALSE((*f)[0].matches(ep("198.19.1.2:80")));
  EXPECT_FALSE((*f)[0].matches(ep("[fd00::2]:80")));
  EXPECT_TRUE((*f)[1].matches(ep("1.2.3.4:5202")));
  EXPECT_FALSE((*f)[1].matches(ep("1.2.3.4:5203")));
  auto v6 = parse_trace_filter("host=fd00:19::/33");
  ASSERT_TRUE(v6.ok()) << v6.error();
  EXPECT_TRUE((*v6)[0].matches(ep("[fd00:19::2]:1")));
  EXPECT_TRUE((*v6)[0].matches(ep("[fd00:19:7fff::2]:1")));
  EXPECT_FALSE((*v6)[0].matches(ep("[fd00:19:8000::2]:1")));
  auto bare = parse_trace_filter("host=198.18.0.2");
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE((*bare)[0].matches(ep("198.18.0.3:1")));
  EXPECT_TRUE(parse_trace_filter("").ok());
  for (const char* bad : {"host=1.2.3.4/33", "host=nope", "port=70000", "port=9-3", "flow=1", "port="}) {
    auto r = parse_trace_filter(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find(bad), std::string::npos) << r.error();
  }
}

TEST(TraceWriter, SelectsByFilterAndSamplesOneInN) {
  TraceOptions o;
  o.path = temp_path();
  o.filter = "port=5201";
  auto w = TraceWriter::open(o);
  ASSERT_TRUE(w.ok()) << w.error();
  EXPECT_TRUE((*w)->select(1, ep("198.18.0.2:40000"), ep("198.19.0.2:5201")));
  EXPECT_FALSE((*w)->select(2, ep("198.18.0.2:40000"), ep("198.19.0.2:80")));
  EXPECT_EQ((*w)->stats().flows, 1u);

  o.filter.clear();
  o.sample = 4;
  auto s = TraceWriter::open(o);
  ASSERT_TRUE(s.ok());
  int chosen = 0;
  for (std::uint64_t id = 1; id <= 4000; ++id) chosen += (*s)->select(id, ep("1.1.1.1:1"), ep("2.2.2.2:2")) ? 1 : 0;
  EXPECT_NEAR(chosen, 1000, 150);  // deterministic on the id: the same flows every run
  int again = 0;
  for (std::uint64_t id = 1; id <= 4000; ++id) again += (*s)->select(id, ep("1.1.1.1:1"), ep("2.2.2.2:2")) ? 1 : 0;
  EXPECT_EQ(again, chosen);
  std::remove(o.path.c_str());
}

TEST(TraceWriter, CsvRowsCarryTheSample) {
  TraceOptions o;
  o.path = temp_path();
  {
    auto w = TraceWriter::open(o);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->select(7, ep("198.18.0.2:40000"), ep("198.19.0.2:5201")));
    (*w)->record(sample(7, 1'000'000, tcp::TraceEvent::Ack));
    tcp::TraceSample s = sample(7, 1'002'500, tcp::TraceEvent::Retransmit);
    s.rtt = Duration{-1};
    s.min_rtt = Duration{-1};
    (*w)->record(s);
    EXPECT_EQ((*w)->stats().samples, 2u);
    (*w)->flush();
    EXPECT_GT((*w)->stats().bytes_written, 0u);
  }
  const auto lines = lines_of(o.path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].rfind("t_us,flow,client,server,event,recovery,cc_phase,snd_una", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("0,7,198.18.0.2:40000,198.19.0.2:5201,ack,recovery,congestion_avoidance,1000,5000,", 0), 0u)
      << lines[1];
  EXPECT_NE(lines[1].find(",20500,"), std::string::npos);  // srtt in microseconds
  EXPECT_EQ(lines[1].substr(lines[1].size() - 6), ",20100");  // the RTT sample closes the row
  EXPECT_EQ(lines[2].rfind("2500,7,", 0), 0u) << lines[2];  // microseconds since the first sample
  EXPECT_EQ(lines[2].substr(lines[2].size() - 2), ",,");  // no min RTT, no RTT sample: empty
  auto count = [](const std::string& l) { return std::count(l.begin(), l.end(), ','); };
  EXPECT_EQ(count(lines[1]), count(lines[0]));
  EXPECT_EQ(count(lines[2]), count(lines[0]));
  std::remove(o.path.c_str());
}

TEST(TraceWriter, JsonLinesAreObjectsWithNulls) {
  TraceOptions o;
  o.path = temp_path();
  o.format = TraceOptions::Format::Jsonl;
  {
    auto w = TraceWriter::open(o);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->select(3, ep("[fd00::2]:40000"), ep("[fd00:19::2]:443")));
    tcp::TraceSample s = sample(3, 5, tcp::TraceEvent::Tlp);
    s.rtt = Duration{-1};
    (*w)->record(s);
  }  // the destructor flushes
  const auto lines = lines_of(o.path);
  ASSERT_EQ(lines.size(), 1u);
  const std::string& l = lines[0];
  EXPECT_EQ(l.front(), '{');
  EXPECT_EQ(l.back(), '}');
  for (const char* field : {R"("t_us":0)", R"("flow":3)", R"("client":"[fd00::2]:40000")",
                            R"("server":"[fd00:19::2]:443")", R"("event":"tlp")", R"("recovery":"recovery")",
                            R"("cwnd":14480)", R"("srtt_us":20500)", R"("rtt_us":null)"})
    EXPECT_NE(l.find(field), std::string::npos) << field << " in " << l;
  std::remove(o.path.c_str());
}

TEST(TraceWriter, BoundedBufferAndFailedWritesAreCounted) {
  TraceOptions o;
  o.path = "/dev/full";  // every write fails with ENOSPC
  o.max_buffer = 64u << 10;
  auto w = TraceWriter::open(o);
  ASSERT_TRUE(w.ok()) << w.error();
  ASSERT_TRUE((*w)->select(1, ep("1.1.1.1:1"), ep("2.2.2.2:2")));
  for (int i = 0; i < 5000; ++i) (*w)->record(sample(1, i, tcp::TraceEvent::Ack));
  EXPECT_EQ((*w)->stats().samples, 5000u);
  EXPECT_GE((*w)->stats().write_errors, 1u);  // each 64 KiB block failed and was dropped
  EXPECT_GT((*w)->stats().samples_dropped, 0u);
  EXPECT_LT((*w)->stats().samples_dropped, 5000u);  // the last partial block is still held
  (*w)->flush();
  EXPECT_EQ((*w)->stats().samples_dropped, 5000u);  // every sample of a failing file is lost, counted
  EXPECT_EQ((*w)->stats().bytes_written, 0u);

  TraceOptions bad;
  bad.path = "/nonexistent-dir/trace.csv";
  auto e = TraceWriter::open(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().find("/nonexistent-dir/trace.csv"), std::string::npos);
  bad.path = temp_path();
  bad.filter = "port=x";
  e = TraceWriter::open(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().find("port=x"), std::string::npos);
  std::remove(bad.path.c_str());
}

}  // namespace
}  // namespace tunstack::daemon
