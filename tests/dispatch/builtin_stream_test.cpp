// The sans-IO stream outbounds: echo defers every callback and honours back-pressure both ways;
// reject refuses after the call that opened it returned.
#include <gtest/gtest.h>

#include <string>

#include "dispatch/builtin.hpp"

namespace tunstack::dispatch {
namespace {

/// A StreamSink that records what it got and accepts at most `room` bytes at a time.
struct RecordingSink final : StreamSink {
  void on_connected() override { ++connected; }
  void on_connect_failed(bool r, const RemoteError&) override { refused = r; ++failed; }
  std::size_t on_data(Bytes d) override {
    if (inside_call) ++reentrant;
    const std::size_t n = std::min(d.size(), room);
    got.append(reinterpret_cast<const char*>(d.data()), n);
    room -= n;
    return n;
  }
  void on_remote_fin() override { ++fins; }
  void on_reset() override { ++resets; }

  std::string got;
  std::size_t room = SIZE_MAX;
  int connected = 0, failed = 0, fins = 0, resets = 0, reentrant = 0;
  bool refused = false;
  bool inside_call = false;
};

Bytes as_bytes(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

TEST(EchoStream, ConnectsAndEchoesOnlyFromTheTaskQueue) {
  TaskQueue tasks;
  auto out = make_echo_outbound(tasks);
  RecordingSink sink;
  auto s = out->open_stream(FlowInfo{Proto::Tcp, {}, {}, "tun", 1}, sink);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(sink.connected, 0);  // not from inside open_stream
  tasks.run_all();
  EXPECT_EQ(sink.connected, 1);
  sink.inside_call = true;
  EXPECT_EQ(s->send(as_bytes("hello")), 5u);
  s->shutdown_write();
  sink.inside_call = false;
  EXPECT_EQ(sink.got, "");
  EXPECT_EQ(sink.fins, 0);
  tasks.run_all();
  EXPECT_EQ(sink.got, "hello");
  EXPECT_EQ(sink.fins, 1);
  EXPECT_EQ(sink.reentrant, 0);
}

TEST(EchoStream, BackPressureBothWaysLosesNothing) {
  TaskQueue tasks;
  auto out = make_echo_outbound(tasks);
  RecordingSink sink;
  auto s = out->open_stream(FlowInfo{Proto::Tcp, {}, {}, "tun", 1}, sink);
  int writable = 0;
  s->set_on_writable([&] { ++writable; });
  tasks.run_all();
  // The client's side takes 1000 bytes at a time; the session buffers 64 KiB at most.
  std::string data;
  for (int i = 0; i < 200000; ++i) data.push_back(static_cast<char>('a' + i % 26));
  std::size_t sent = 0;
  for (int round = 0; round < 10000 && sink.got.size() < data.size(); ++round) {
    sent += s->send(as_bytes(data.substr(sent, 70000)));
    sink.room = 1000;
    s->resume_reading();
    tasks.run_all();
  }
  EXPECT_EQ(sink.got, data);
  EXPECT_GT(writable, 0);  // send() was refused while full, then the session said so
}

TEST(EchoStream, AbortStopsEverything) {
  TaskQueue tasks;
  auto out = make_echo_outbound(tasks);
  RecordingSink sink;
  auto s = out->open_stream(FlowInfo{Proto::Tcp, {}, {}, "tun", 1}, sink);
  tasks.run_all();
  EXPECT_EQ(s->send(as_bytes("x")), 1u);
  s->abort();
  tasks.run_all();
  EXPECT_EQ(sink.got, "");
  EXPECT_EQ(s->send(as_bytes("y")), 0u);
  s.reset();
  tasks.run_all();  // a task posted for a destroyed session must not touch it
}

TEST(RejectStream, RefusesAfterOpenReturns) {
  TaskQueue tasks;
  auto out = make_reject_outbound(tasks);
  RecordingSink sink;
  auto s = out->open_stream(FlowInfo{Proto::Tcp, {}, {}, "tun", 1}, sink);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(sink.failed, 0);
  tasks.run_all();
  EXPECT_EQ(sink.failed, 1);
  EXPECT_TRUE(sink.refused);
}

}  // namespace
}  // namespace tunstack::dispatch
