#pragma once
// The TCP engine's entry point: demultiplexes segments by 4-tuple into connections, opens a
// connection for a SYN to any destination (the stack terminates every TCP flow on the TUN),
// answers SYNs beyond the half-open cap with SYN cookies (RFC 4987, syncookie.hpp) and segments
// for no connection with RST (RFC 9293 §3.10.7.1), keeps the layer-wide challenge-ACK budget
// (RFC 5961 §7), and drives all connection deadlines from one TimerWheel. Sans-IO: the driver
// calls on_tcp(), poll() and next_deadline().
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "dispatch/dispatcher.hpp"
#include "stack/core/flat_map.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/packet_output.hpp"
#include "stack/core/timer_wheel.hpp"
#include "stack/host.hpp"
#include "stack/icmp/icmp_out.hpp"
#include "stack/tcp/config.hpp"
#include "stack/tcp/connection.hpp"
#include "stack/tcp/syncookie.hpp"
#include "stack/tcp/trace.hpp"

namespace tunstack::tcp {

/// The TCP engine; see the file comment.
class TcpLayer final : public TcpHandler {
 public:
  /// `errors` (optional) sends ICMP unreachable when an outbound fails other than by refusal.
  TcpLayer(TcpConfig cfg, Instant origin, BufPool& pool, PacketOutput& out,
           dispatch::Dispatcher& dispatcher, icmp::ErrorSender* errors = nullptr);
  ~TcpLayer() override;
  TcpLayer(const TcpLayer&) = delete;
  TcpLayer& operator=(const TcpLayer&) = delete;

  /// One segment from the Host (header + payload, checksum verified).
  void on_tcp(Instant now, const IpAddr& src, const IpAddr& dst, PacketBuf segment) override;
  /// Fires connection deadlines and reaps closed connections.
  void poll(Instant now);
  /// When poll() should next be called.
  std::optional<Instant> next_deadline() const;
  /// The driver's clock moved on: outbound callbacks (StreamSink) that follow happen at `now`
  /// (their timestamps, RTT samples and deadlines are taken from it). Fires no timer.
  void advance_clock(Instant now) {
    if (now > last_now_) last_now_ = now;
  }

  /// Batching, for drivers that hand over packets in batches (the TUN loop reads dozens per
  /// wake-up): between begin_batch() and end_batch(), in-order bytes a connection receives are
  /// handed to its session, and the ACK they call for is sent, once per connection at
  /// end_batch() rather than once per segment. One large write to the outbound instead of one
  /// per segment is what makes uploads cheap; the ACK then covers the whole batch (as a kernel
  /// receiver with GRO does). Out-of-order arrivals are still answered at once (RFC 5681 §4.2:
  /// the sender's loss detection counts on them). Without begin_batch() every segment is
  /// handled completely inside on_tcp().
  void begin_batch() { batching_ = true; }
  void end_batch();

  /// The driver's output queue has room again (PacketOutput::room() was 0): connections that
  /// stopped sending for it carry on.
  void on_output_room(Instant now);
  /// Where per-connection sender traces go (nullptr: none). Applies to connections created after.
  void set_trace_sink(TraceSink* sink) { trace_ = sink; }
  TraceSink* trace_sink() const { return trace_; }

  const TcpStats& stats() const { return stats_; }
  const TcpConfig& config() const { return cfg_; }
  std::size_t connection_count() const { return conns_.size(); }
  /// The connection for a 4-tuple, or nullptr (for tests and introspection).
  Connection* find(const Endpoint& client, const Endpoint& server);
  /// Calls f(Connection&) for every connection (introspection; do not open or close inside).
  template <class F>
  void for_each_connection(F&& f) {
    conns_.for_each([&](const FourTuple&, std::unique_ptr<Connection>& c) { f(*c); });
  }

  // Services for Connection.
  TcpStats& mutable_stats() { return stats_; }
  BufPool& pool() { return pool_; }
  Instant last_now() const { return last_now_; }
  Instant origin() const { return origin_; }
  /// Prepends the IP header to a TCP segment from `t.server` to `t.client` and emits it.
  void emit(PacketBuf segment, const FourTuple& t);
  /// Re-arms the connection's timer at its next deadline (or now, when it is dead: reap it).
  void touch(Connection& c);
  /// Sends an ICMP error toward the client about its SYN (outbound unreachable).
  void send_unreachable(const FourTuple& t, SeqNum client_isn, const dispatch::RemoteError& why);
  /// Our MSS for a family: the TUN MTU minus IP and TCP headers.
  std::uint16_t our_mss(IpVersion v) const;
  /// Called once by a connection when it leaves the half-open states (established or closed).
  void leave_half_open() {
    if (stats_.half_open > 0) --stats_.half_open;
  }
  /// RFC 5961 §7: takes one token of the layer-wide challenge-ACK budget; false (and counted)
  /// when the budget is spent.
  bool allow_challenge_ack(Instant now);
  /// RFC 9293 §3.10.7.1: the RST answering `seg` (from the client of `t`).
  void reply_rst(const FourTuple& t, const wire::TcpRepr& seg, RstReason why);
  /// Packets the output can take now (PacketOutput::room).
  std::size_t output_room() const { return out_.room(); }
  /// Queues `c` until on_output_room (once; counted).
  void block_on_output(Connection& c);
  /// True inside begin_batch() / end_batch().
  bool batching() const { return batching_; }
  /// Queues `c` for its deferred delivery and ACK at end_batch() (once per batch).
  void defer_delivery(Connection& c);

 private:
  void on_syn(Instant now, const FourTuple& t, const wire::TcpRepr& seg);
  void send_cookie_synack(Instant now, const FourTuple& t, const wire::TcpRepr& syn);
  /// The client's ACK of a SYN cookie: true when it was one (the connection now exists).
  bool accept_cookie(Instant now, const FourTuple& t, const wire::TcpRepr& seg, Bytes payload);
  void start(Instant now, const FourTuple& t, Connection& c);
  void erase(const FourTuple& t);

  TcpConfig cfg_;
  Instant origin_;
  BufPool& pool_;
  PacketOutput& out_;
  dispatch::Dispatcher& dispatcher_;
  icmp::ErrorSender* errors_;
  TimerWheel wheel_;
  FlatMap<FourTuple, std::unique_ptr<Connection>, FourTupleHash> conns_;
  TcpStats stats_;
  SynCookies cookies_;
  std::optional<Instant> last_cookie_;  ///< when we last sent one: ACKs are checked until 2 slots later
  // RFC 5961 §7 token bucket: tokens scaled by 1e9 (one token = one ACK) so refill is exact.
  std::uint64_t challenge_tokens_ = 0;
  Instant challenge_refill_{};
  Instant last_now_{};
  std::uint64_t next_flow_id_ = 1;
  std::uint16_t ip_ident_ = 1;
  bool batching_ = false;
  TraceSink* trace_ = nullptr;
  std::vector<FourTuple> output_blocked_;  ///< connections waiting for output room
  std::vector<Connection*> deferred_;  ///< connections with delivery pending until end_batch()
};

}  // namespace tunstack::tcp
