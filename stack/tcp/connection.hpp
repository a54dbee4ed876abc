#pragma once
// One TCP connection terminated by tunstack: the RFC 9293 state machine (connection.cpp, segment
// arrival in §3.10.7 order), segments, ACK policy and timers (output.cpp), the sender (sender.cpp:
// what leaves and when; sender_ack.cpp: what an ACK does: scoreboard, loss detection, recovery,
// undo, rate samples), buffer auto-tuning and release (buffers.cpp), with the receive side in
// receiver.hpp, the SACK scoreboard in scoreboard.hpp, RACK in rack.hpp, delivery rate in
// rate.hpp, RTT in rtt.hpp and congestion control behind cc.hpp. It is the StreamSink of the
// outbound stream that carries its bytes on.
#include <cstdint>
#include <memory>
#include <optional>

#include "dispatch/dispatcher.hpp"
#include "stack/core/addr.hpp"
#include "stack/core/seq.hpp"
#include "stack/core/time.hpp"
#include "stack/core/timer_wheel.hpp"
#include "stack/tcp/cc.hpp"
#include "stack/tcp/config.hpp"
#include "stack/tcp/rack.hpp"
#include "stack/tcp/rate.hpp"
#include "stack/tcp/receiver.hpp"
#include "stack/tcp/ring.hpp"
#include "stack/tcp/rtt.hpp"
#include "stack/tcp/scoreboard.hpp"
#include "stack/tcp/trace.hpp"
#include "stack/wire/tcp.hpp"

namespace tunstack::tcp {

class TcpLayer;

/// RFC 9293 §3.3.2 states, plus SynPending: a SYN seen while the outbound is still connecting.
enum class State : std::uint8_t {
  SynPending, SynReceived, Established, FinWait1, FinWait2, CloseWait, Closing, LastAck, TimeWait,
  Closed
};
const char* to_string(State s);

/// A connection's identity: the client (source on the TUN) and the server it asked for.
struct FourTuple {
  Endpoint client;
  Endpoint server;
  friend bool operator==(const FourTuple&, const FourTuple&) = default;
};

/// Hash of a FourTuple for the demux table.
struct FourTupleHash {
  std::size_t operator()(const FourTuple& t) const noexcept {
    return hash_mix(hash_value(t.client) * 31 + hash_value(t.server));
  }
};

/// What the client's SYN told us: read from the SYN itself, or rebuilt from a SYN cookie.
struct SynInfo {
  SeqNum irs;                          ///< the client's ISN
  std::uint16_t window = 0;            ///< the window field (never scaled in a SYN)
  std::optional<std::uint16_t> mss;    ///< MSS option
  std::optional<std::uint8_t> wscale;  ///< window-scale option (the client's shift)
  bool sack_permitted = false;
  std::optional<std::uint32_t> tsval;  ///< the client's timestamp, when it uses them

  /// The options of a SYN segment.
  static SynInfo from_syn(const wire::TcpRepr& syn);
};

/// An optional Instant in 8 bytes (Instant::max() means unset): a connection keeps several
/// deadlines and these are the bulk of its size.
class Deadline {
 public:
  Deadline() = default;
  Deadline(Instant t) : t_(t) {}  // NOLINT: assigned from Instants like an optional
  explicit operator bool() const { return t_ != Instant::max(); }
  Instant operator*() const { return t_; }
  void reset() { t_ = Instant::max(); }

 private:
  Instant t_ = Instant::max();
};

/// One passively opened connection; owned by the TcpLayer.
class Connection final : public dispatch::StreamSink {
 public:
  /// Builds the connection for an accepted SYN (options already parsed into `syn`).
  Connection(TcpLayer& layer, const FourTuple& tuple, Instant now, const wire::TcpRepr& syn);
  /// Builds the connection for a SYN (`syn`), or with `cookie_iss` for the client's ACK of a
  /// SYN cookie: then it starts in SYN-RECEIVED with that ISS, as if the SYN-ACK had been sent.
  Connection(TcpLayer& layer, const FourTuple& tuple, Instant now, const SynInfo& syn,
             std::optional<SeqNum> cookie_iss = std::nullopt);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Asks the outbound for a stream (and sends the SYN-ACK at once with immediate_synack).
  void open(Instant now, dispatch::Outbound& outbound, const dispatch::FlowInfo& flow);
  /// RFC 9293 §3.10.7.4: a segment for this connection (not a new SYN to a TIME-WAIT one).
  void on_segment(Instant now, const wire::TcpRepr& seg, Bytes payload);
  /// Handles every deadline that has passed.
  void on_timer(Instant now);
  /// The earliest pending deadline.
  std::optional<Instant> next_deadline() const;
  /// RFC 6191-style check of a new SYN on a TIME-WAIT 4-tuple (as Linux: a higher ISN or a
  /// newer timestamp).
  bool accepts_new_syn(const wire::TcpRepr& syn) const;

  State state() const { return state_; }
  /// True once the connection is closed and may be reaped.
  bool dead() const { return state_ == State::Closed; }
  bool half_open() const { return state_ == State::SynPending || state_ == State::SynReceived; }
  const FourTuple& tuple() const { return tuple_; }

  // Introspection for tests.
  SeqNum iss() const { return iss_; }
  SeqNum snd_una() const { return snd_una_; }
  SeqNum snd_nxt() const { return snd_nxt_; }
  SeqNum rcv_nxt() const { return ack_value(); }
  std::uint32_t snd_wnd() const { return snd_wnd_; }
  std::uint32_t cwnd() const { return cc_->cwnd(); }
  std::uint32_t ssthresh() const { return cc_->ssthresh(); }
  Duration rto() const { return rtt_.rto(); }
  std::uint32_t send_buffered() const { return sbuf_len_; }
  std::uint32_t recv_buffered() const { return rx_.readable(); }
  /// Current buffer sizes (auto-tuning raises them) and the storage they hold now.
  std::uint32_t send_capacity() const { return static_cast<std::uint32_t>(sbuf_.capacity()); }
  std::uint32_t recv_capacity() const { return rx_.capacity(); }
  std::size_t buffer_bytes() const { return sbuf_.allocated() + rx_.allocated(); }
  std::uint8_t rcv_wscale() const { return rcv_wscale_; }
  std::uint8_t snd_wscale() const { return wscale_ok_ ? snd_wscale_ : 0; }
  bool sack_ok() const { return sack_ok_; }
  bool ts_ok() const { return ts_ok_; }
  std::uint16_t peer_mss() const { return peer_mss_; }
  /// The sender's loss-recovery state and scoreboard (introspection for tests and traces).
  RecoveryState recovery_state() const { return state_recovery_; }
  const Scoreboard& scoreboard() const { return sb_; }
  Duration srtt() const { return rtt_.srtt(); }
  Duration min_rtt() const { return min_rtt_; }
  std::string_view cc_name() const { return cc_->name(); }
  /// The TUN output queue was full: resume sending (TcpLayer::on_output_room).
  void on_output_room(Instant now) {
    output_blocked = false;
    try_output(now);
  }
  /// Set while the connection waits in the layer's list for output room.
  bool output_blocked = false;

  /// The TimerWheel node; the layer keeps it at next_deadline().
  Timer timer;
  /// Queued on the layer's end-of-batch list (TcpLayer::begin_batch).
  bool delivery_deferred = false;
  /// The end of a batch: hands received bytes to the session and sends the ACK owed.
  void flush_deferred(Instant now);

  // dispatch::StreamSink
  void on_connected() override;
  void on_connect_failed(bool refused, const dispatch::RemoteError& why) override;
  std::size_t on_data(Bytes data) override;
  void on_remote_fin() override;
  void on_reset() override;

 private:
  /// TIME-WAIT is extended up to this many times while the session lags behind the client's
  /// last bytes (then the session is aborted).
  static constexpr std::uint32_t kMaxDrainLingers = 30;

  // connection.cpp: segment arrival, RFC 9293 §3.10.7.4 steps.
  bool check_sequence(Instant now, const wire::TcpRepr& seg, Bytes payload);
  bool disordered_ack(const wire::TcpRepr& seg, Bytes payload, std::uint32_t age) const;
  bool check_rst(const wire::TcpRepr& seg);
  bool check_syn(Instant now, const wire::TcpRepr& seg);
  bool process_ack(Instant now, const wire::TcpRepr& seg, Bytes payload, bool may_be_dupack = true);
  void process_text(Instant now, const wire::TcpRepr& seg, Bytes payload);
  void process_fin(Instant now);
  void enter_established(Instant now);
  void update_ts_recent(Instant now, const wire::TcpRepr& seg);
  /// RFC 7323 §5.5: TS.Recent older than 24 days is invalid (the client's clock may have
  /// wrapped its sign bit): PAWS must not reject on it.
  bool ts_recent_stale(Instant now) const { return now - ts_recent_stamp_ > std::chrono::hours(24 * 24); }
  void deliver();
  void maybe_resume_reading();
  void abort_with_rst(Instant now, RstReason why);
  // Buffers: auto-tuning (Linux tcp_rcv_space_adjust / tcp_sndbuf_expand) and idle release.
  void rcv_space_adjust(Instant now);
  void rcv_rtt_sample(Instant now, const wire::TcpRepr& seg, std::uint32_t len);
  Duration rcv_rtt() const;
  void snd_buf_expand();
  void buffers_maybe_idle(Instant now);
  void release_idle_buffers();
  void close(bool abort_session);
  void leave_half_open();

  // output.cpp: segments, ACK policy and timers.
  void send_synack(Instant now);
  void send_ack(Instant now);
  void send_rst(Instant now);
  void send_challenge_ack(Instant now);
  void schedule_ack(Instant now, bool immediately);
  bool send_segment(Instant now, wire::TcpFlags flags, SeqNum seq, std::uint32_t len);
  std::uint32_t max_payload() const;
  std::uint32_t flight() const { return static_cast<std::uint32_t>(snd_max_ - snd_una_); }
  void arm_rto(Instant now);
  void note_unacked(Instant now);
  bool user_timed_out(Instant now) const;
  Deadline clamp_to_user_timeout(Instant deadline) const;
  void on_persist(Instant now);
  void on_keepalive(Instant now);
  void enter_time_wait(Instant now);
  std::uint32_t ts_now(Instant now) const;
  SeqNum ack_value() const { return rx_.rcv_nxt() + (peer_fin_done_ ? 1u : 0u); }

  // sender.cpp: what leaves and when.
  enum class SendStep : std::uint8_t { Sent, NoData, WindowLimited, CwndLimited, Blocked };
  void try_output(Instant now);
  SendStep send_new_data(Instant now, std::uint32_t cwnd, std::uint32_t pipe, std::uint32_t mss);
  bool retransmit(Instant now, Scoreboard::Id id);
  bool transmit(Instant now, wire::TcpFlags flags, SeqNum seq, std::uint32_t len);
  bool output_gate(Instant now);
  void after_send(Instant now, std::uint32_t len);
  bool can_send_state() const;
  std::uint32_t send_cwnd() const;
  std::uint64_t pacing_rate() const;
  void arm_tlp(Instant now);
  void on_tlp(Instant now);
  void on_rack_timer(Instant now);
  void on_send_timer(Instant now);
  void on_sws_timer(Instant now);
  void on_rto(Instant now);
  void enter_loss(Instant now);
  void trace(Instant now, TraceEvent e, std::uint32_t seq, std::uint32_t len, Duration rtt);

  // sender_ack.cpp: what an ACK does to the sender.
  struct AckWork {
    std::uint32_t prior_in_flight = 0;
    SeqNum prior_una;
    std::uint32_t acked_sacked = 0;
    std::uint32_t newly_lost = 0;
    Duration seq_rtt{-1};   ///< oldest newly cumulatively acked segment (RTO estimator)
    Duration sack_rtt{-1};  ///< oldest newly SACKed segment
    Duration rtt{-1};       ///< newest delivered segment (controller, min_rtt)
  };
  bool uses_sack() const;
  bool in_fast_or_rto_recovery() const {
    return state_recovery_ == RecoveryState::Recovery || state_recovery_ == RecoveryState::Loss;
  }
  void sender_on_ack(Instant now, const wire::TcpRepr& seg, SeqNum ack, bool dupack_candidate);
  void process_sack_blocks(Instant now, const wire::TcpRepr& seg, SeqNum ack, AckWork& w);
  void on_dsack(Instant now, SeqNum left, SeqNum right);
  void on_segment_delivered(Instant now, const SentSeg& s, std::uint32_t bytes, bool cumulative, AckWork& w);
  void process_cumulative_ack(Instant now, const wire::TcpRepr& seg, SeqNum ack, AckWork& w);
  void take_rtt_samples(Instant now, AckWork& w);
  void detect_losses(Instant now, AckWork& w);
  std::uint32_t mark_lost_below(SeqNum boundary, std::uint32_t& segs);
  void detect_losses_dupack(AckWork& w);
  void update_recovery_state(Instant now, const wire::TcpRepr& seg, AckWork& w);
  void enter_recovery(Instant now, AckWork& w);
  void exit_recovery(Instant now);
  void prr_on_ack(const AckWork& w);
  void undo_reduction(Instant now);
  void tlp_on_ack(Instant now, const AckWork& w);
  void feed_congestion_control(Instant now, const AckWork& w);
  /// Sequence number of sbuf_ offset 0: the first data byte not yet acknowledged.
  /// (Whether our SYN is acknowledged is tracked, not inferred from snd_una == iss: after 2^32
  /// bytes snd_una comes back to iss.)
  SeqNum sbuf_start() const { return syn_acked_ ? snd_una_ : iss_ + 1; }
  SeqNum data_end() const { return sbuf_start() + sbuf_len_; }
  bool fin_acked() const { return fin_sent_ && snd_una_ == fin_seq_ + 1; }

  TcpLayer& layer_;
  FourTuple tuple_;
  State state_ = State::SynPending;
  std::unique_ptr<dispatch::StreamSession> session_;
  bool connected_ = false;        ///< the outbound reported on_connected
  bool session_done_ = false;     ///< abort/shutdown already told to the session
  bool counted_half_open_ = true;  ///< still counted in the layer's half-open gauge

  // Negotiated in the handshake (RFC 9293 §3.7.1, RFC 7323, RFC 2018).
  std::uint16_t peer_mss_ = 536;
  std::uint8_t snd_wscale_ = 0;  ///< shift applied to the client's window field
  std::uint8_t rcv_wscale_ = 0;  ///< shift the client applies to ours
  bool sack_ok_ = false;
  bool ts_ok_ = false;
  bool wscale_ok_ = false;

  // Send sequence space (RFC 9293 §3.3.1).
  SeqNum iss_;
  SeqNum snd_una_;
  SeqNum snd_nxt_;
  SeqNum snd_max_;  ///< highest sequence sent + 1 (snd_nxt falls back to snd_una on RTO)
  std::uint32_t snd_wnd_ = 0;
  std::uint32_t max_snd_wnd_ = 0;
  SeqNum snd_wl1_;
  SeqNum snd_wl2_;
  ByteRing sbuf_;
  std::uint32_t sbuf_len_ = 0;  ///< bytes in sbuf_ from snd_una (unacked + unsent)
  bool fin_queued_ = false;     ///< the remote's FIN came: our FIN follows the data
  bool fin_sent_ = false;
  SeqNum fin_seq_;
  bool reading_paused_ = false;  ///< on_data returned short; resume_reading() when space frees
  Instant unacked_since_{};      ///< when flight() last left 0 or snd_una last advanced (user_timeout)

  // Receive side.
  SeqNum irs_;
  Receiver rx_;
  bool peer_fin_seen_ = false;
  SeqNum peer_fin_seq_;
  bool peer_fin_done_ = false;     ///< rcv_nxt is past the client's FIN
  bool shutdown_sent_ = false;     ///< session.shutdown_write() called
  std::uint32_t ts_recent_ = 0;    ///< RFC 7323 §4.3
  Instant ts_recent_stamp_{};      ///< when ts_recent_ was last set (RFC 7323 §5.5: 24 days)
  SeqNum last_ack_sent_;
  std::uint32_t ts_base_ = 0;
  // Receive-buffer auto-tuning: bytes the session took in the last measured RTT.
  SeqNum rcvq_seq_;                ///< read_seq at the start of the measurement
  std::uint32_t rcvq_space_ = 0;   ///< the most taken in one RTT so far
  Instant rcvq_time_{};            ///< start of the measurement
  std::uint32_t rcv_rtt_us_ = 0;   ///< receiver-side RTT from timestamps (0: none yet)
  std::uint32_t rcv_rtt_tsecr_ = 0;  ///< TSecr of the last sample: one sample per echoed TSval

  // The sender: congestion control, RTT (RFC 6298), the scoreboard and loss recovery.
  std::unique_ptr<CongestionControl> cc_;
  RttEstimator rtt_;
  Scoreboard sb_;
  RateEstimator rate_;
  Rack rack_;
  RecoveryState state_recovery_ = RecoveryState::Open;
  std::uint32_t dupacks_ = 0;
  SeqNum recover_;                  ///< RFC 6675 RecoveryPoint / RFC 6582 recover
  Scoreboard::Id dupthresh_scan_ = 0;  ///< RFC 6675 IsLost examined records before it
  Duration min_rtt_{-1};
  Instant min_rtt_stamp_{};
  // PRR (RFC 6937).
  std::uint32_t prr_delivered_ = 0;
  std::uint32_t prr_out_ = 0;
  std::uint32_t recover_fs_ = 1;
  std::uint32_t prr_cwnd_ = 0;
  // Undo (RFC 3708 D-SACK, RFC 3522 Eifel).
  bool undo_armed_ = false;
  bool undo_retrans_seen_ = false;
  std::uint32_t undo_retrans_ = 0;
  bool loss_undo_armed_ = false;
  bool loss_retrans_sent_ = false;
  std::uint32_t loss_retrans_tsval_ = 0;
  // Tail loss probe (RFC 8985 §7).
  bool tlp_active_ = false;
  bool tlp_retrans_ = false;
  bool tlp_dsacked_ = false;
  SeqNum tlp_end_;
  // RFC 7661 cwnd validation, per round of delivered data.
  bool cwnd_limited_now_ = false;
  bool cwnd_limited_prev_ = false;
  std::uint64_t round_end_ = 0;
  // Pacing and the SWS override.
  Instant pace_next_{};
  bool sws_override_ = false;
  bool syn_acked_ = false;
  std::uint64_t flow_id_ = 0;
  TraceSink* trace_ = nullptr;
  bool timing_ = false;  ///< the SYN-ACK is being timed (data RTT comes from the scoreboard)
  SeqNum timed_seq_;
  Instant timed_at_{};
  std::uint32_t retries_ = 0;
  std::uint32_t persist_backoff_ = 0;

  // ACK policy.
  std::uint32_t unacked_segments_ = 0;
  bool ack_now_ = false;  ///< an ACK is owed before on_segment returns
  std::uint32_t quickacks_;

  // Deadlines as data; the layer's wheel fires at the earliest.
  Deadline rto_at_;
  Deadline persist_at_;
  Deadline delack_at_;
  Deadline keepalive_at_;
  Deadline state_at_;  ///< connect timeout, FIN-WAIT-2 timeout or TIME-WAIT end
  Deadline buf_idle_at_;  ///< free the storage of the rings that are still empty then
  Deadline tlp_at_;       ///< RFC 8985 probe timeout
  Deadline reo_at_;       ///< RACK reordering timer
  Deadline send_at_;      ///< pacing release, or a retry after the packet pool ran dry
  Deadline sws_at_;       ///< RFC 9293 §3.8.6.2.1 SWS override
  std::uint32_t keepalive_sent_ = 0;
  Instant last_rx_{};
};

}  // namespace tunstack::tcp
