#pragma once
// SimClient: a simulated client that behaves like a Linux TCP client toward the stack under
// test. It opens with MSS, window scaling, SACK-permitted and timestamps (each switchable) and
// sends a short request; its receiver is the real thing, since it judges our sender:
// reassembly of out-of-order data, SACK blocks per RFC 2018 §4 (the block holding the newest
// segment first; 3 blocks beside timestamps, 4 without), D-SACK for duplicates (RFC 2883), an
// immediate ACK for out-of-order data and hole fills, a delayed ACK otherwise (every 2nd
// segment or 40 ms), a scaled window over a configurable receive buffer, and TSecr = TS.Recent
// (RFC 7323 §4.3). Every byte received is checked against the SourceOutbound stream.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "stack/core/addr.hpp"
#include "stack/core/bytes.hpp"
#include "stack/core/seq.hpp"
#include "stack/core/time.hpp"
#include "stack/wire/tcp.hpp"

namespace tunstack::tcp::sim {

/// When the client sends its FIN.
enum class ClientClose : std::uint8_t {
  AfterPeerFin,  ///< once the server's FIN and all data arrived (a passive close, like curl)
  OnAllData,     ///< as soon as all expected bytes arrived, FIN or not (simultaneous close)
};

/// Settings of the simulated client.
struct ClientConfig {
  Endpoint self;
  Endpoint server;
  std::uint16_t mss = 1460;
  bool window_scale = true;
  bool sack = true;
  bool timestamps = true;
  std::uint32_t rcv_buf = 4u << 20;  ///< receive buffer: the window it advertises
  Duration delack = std::chrono::milliseconds(40);
  std::uint32_t iss = 0x40000000;
  std::string request = "GET / HTTP/1.1\r\n\r\n";  ///< sent after the handshake
  std::uint64_t expect = 0;                        ///< bytes the server is to send
  ClientClose close = ClientClose::AfterPeerFin;
};

/// What the client saw.
struct ClientStats {
  std::uint64_t segments_in = 0;
  std::uint64_t data_segments_in = 0;
  std::uint64_t duplicate_segments = 0;  ///< data entirely received before
  std::uint64_t ooo_segments = 0;
  std::uint64_t mismatched_bytes = 0;  ///< bytes that differ from the source stream
  std::optional<std::uint64_t> first_mismatch;
  std::uint64_t beyond_window = 0;  ///< segments (partly) past the advertised window
  std::uint64_t oversized = 0;      ///< payload above our MSS
  std::uint64_t acks_sent = 0;
  std::uint64_t sack_acks_sent = 0;  ///< ACKs carrying SACK blocks
  std::uint64_t dsacks_sent = 0;
  std::uint64_t rst_in = 0;  ///< resets, except the one below
  /// A RST answering our FIN retransmission in LAST-ACK after the stack's TIME-WAIT (2 s by
  /// default) ended: all data is in, so it closes the connection as it would a Linux client's.
  std::uint64_t rst_in_last_ack = 0;
  std::uint64_t tsecr_bad = 0;             ///< the server echoed a TSval we never sent
  std::uint64_t retransmits = 0;           ///< client RTOs
  std::optional<Instant> all_received_at;  ///< all bytes and the FIN were in
};

/// See the file comment.
class SimClient {
 public:
  /// Hands one TCP segment (header + payload) to the link toward the server.
  using Emit = std::function<void(Instant now, std::string segment)>;

  SimClient(ClientConfig cfg, std::uint64_t seed, Emit emit);

  /// Sends the SYN.
  void start(Instant now);
  /// One segment from the server (checksum is verified here).
  void on_segment(Instant now, Bytes segment);
  std::optional<Instant> next_deadline() const;
  /// Fires the delayed-ACK and retransmission timers that are due.
  void poll(Instant now);
  /// All bytes and the FIN arrived and our FIN was acknowledged.
  bool finished() const;
  std::uint64_t delivered() const { return delivered_; }
  const ClientStats& stats() const { return stats_; }
  std::string describe() const;

 private:
  struct SackRange {
    std::uint64_t begin;
    std::uint64_t end;
  };
  void on_synack(Instant now, const wire::TcpRepr& r);
  void on_ack(Instant now, const wire::TcpRepr& r);
  /// Takes the payload in; returns true when it calls for an immediate ACK.
  bool on_data(const wire::TcpRepr& r, Bytes payload);
  bool on_ooo(std::uint64_t off, std::uint64_t end);
  void check_bytes(std::uint64_t off, Bytes payload);
  void absorb_ooo();
  void remember_block(std::uint64_t begin, std::uint64_t end);
  void update_ts_recent(const wire::TcpRepr& r);
  void maybe_close(Instant now);
  void ack_now(Instant now);
  void send(Instant now, wire::TcpFlags flags, SeqNum seq, std::string_view payload);
  void fill_options(Instant now, wire::TcpRepr& r);
  void send_pending(Instant now);
  void arm_rto(Instant now);
  SeqNum rcv_nxt() const;
  SeqNum seq_at(std::uint64_t off) const { return irs_ + 1 + static_cast<std::uint32_t>(off); }
  std::uint16_t window_field() const;
  std::uint32_t rcv_wnd() const;

  ClientConfig cfg_;
  std::uint64_t seed_;
  Emit emit_;
  ClientStats stats_;
  Instant origin_{};
  // Handshake and negotiated options.
  bool established_ = false;
  bool ts_ok_ = false;
  bool sack_ok_ = false;
  std::uint8_t our_shift_ = 0;
  std::uint8_t peer_shift_ = 0;
  bool ws_ok_ = false;
  Duration rto_ = std::chrono::seconds(1);       ///< current, with backoff
  Duration base_rto_ = std::chrono::seconds(1);  ///< without backoff (restored by progress)
  std::optional<Instant> rto_at_;
  Instant syn_sent_at_{};
  // Our send side: the request, then the FIN.
  SeqNum iss_;
  std::uint64_t snd_una_ = 0;  ///< offsets into request + FIN
  std::uint64_t snd_nxt_ = 0;
  bool fin_queued_ = false;
  bool fin_acked_ = false;
  std::vector<std::uint32_t> sent_tsvals_;  ///< recent TSvals, to check the echo
  // The receiver.
  SeqNum irs_;
  std::uint64_t delivered_ = 0;                 ///< in-order bytes (and checked)
  std::map<std::uint64_t, std::uint64_t> ooo_;  ///< begin -> end of out-of-order ranges held
  std::vector<SackRange> recent_;               ///< SACK blocks, most recently changed first
  std::optional<SackRange> dsack_;              ///< to report in the next ACK
  std::optional<std::uint64_t> fin_offset_;
  bool fin_received_ = false;
  std::uint32_t ts_recent_ = 0;
  SeqNum last_ack_sent_;
  int unacked_segments_ = 0;
  std::optional<Instant> delack_at_;
};

}  // namespace tunstack::tcp::sim
