#pragma once
// RACK-TLP loss detection (RFC 8985) over the scoreboard: a segment is lost when a segment sent
// sufficiently later (by more than the reordering window) has been delivered. Time, not
// duplicate-ACK counting, decides, so lost retransmissions and tail losses are detected too.
//
// Cost per ACK does not grow with the window: original transmissions leave in sequence order, so
// they are examined once each from a moving mark (the oldest one not yet delivered or lost);
// retransmissions, which break that order, are kept in a list of their own in the order they
// left, examined the same way from its front.
#include <cstdint>
#include <optional>
#include <vector>

#include "stack/core/seq.hpp"
#include "stack/core/time.hpp"
#include "stack/tcp/scoreboard.hpp"

namespace tunstack::tcp {

/// RACK's state for one connection (RFC 8985 §5.2 names).
class Rack {
 public:
  /// RFC 8985 §6.2 step 2 and 3: a segment was delivered (cumulatively or SACKed) at `now`.
  void on_delivered(const SentSeg& s, Instant now, Duration min_rtt);
  /// RFC 8985 §6.2 step 4: the ACK carried a D-SACK (the reordering window grows).
  void on_dsack(SeqNum snd_una, SeqNum snd_nxt);
  /// Recovery ended: the grown reordering window decays after 16 recoveries.
  void on_recovery_exit();
  /// A retransmission of `id` left: it is watched by the retransmission list.
  void on_retransmit(Scoreboard::Id id, Instant xmit) { retrans_.push_back(Watch{id, xmit}); }
  /// The client reneged or an RTO marked everything: start the scan again from the front.
  void reset_scan(Scoreboard::Id head) { scan_ = head; }
  /// The reordering window (RFC 8985 §6.2 step 4).
  Duration reo_wnd(bool in_recovery, std::uint32_t sacked_bytes, std::uint32_t dupthresh_bytes,
                   Duration min_rtt, Duration srtt) const;
  /// RFC 8985 §6.2 step 5: marks lost every segment sent more than rtt + reo_wnd before the
  /// most recently delivered one. Returns the bytes newly marked lost (and their count in
  /// `segments`), and in `timer` when to look again (the reordering timer), if ever.
  std::uint32_t detect_loss(Scoreboard& sb, Instant now, Duration reo_wnd, std::uint32_t& segments,
                            std::optional<Instant>& timer);

  bool has_sample() const { return have_; }
  bool reordering_seen() const { return reord_; }
  Duration rtt() const { return rtt_; }
  std::uint32_t reo_wnd_mult() const { return mult_; }

 private:
  /// RFC 8985 §6.2: t1/seq1 sent after t2/seq2.
  static bool sent_after(Instant t1, SeqNum s1, Instant t2, SeqNum s2) {
    return t1 > t2 || (t1 == t2 && s1 > s2);
  }
  /// Checks one segment: lost (true), or the time left before it would be.
  bool expired(const SentSeg& s, Instant now, Duration reo_wnd, std::optional<Instant>& timer) const;
  /// The retransmission list's part of detect_loss.
  std::uint32_t detect_retransmissions(Scoreboard& sb, Instant now, Duration reo_wnd, std::uint32_t& segments,
                                       std::optional<Instant>& timer);

  /// A retransmission being watched: the record and when that retransmission left (a record
  /// sent again since has a newer entry further on; the old one is then dropped unexamined).
  struct Watch {
    Scoreboard::Id id;
    Instant xmit;
  };

  bool have_ = false;
  Instant xmit_ts_{};
  SeqNum end_seq_;
  Duration rtt_{};
  SeqNum fack_;          ///< highest end of a delivered segment
  bool reord_ = false;   ///< reordering seen on this connection
  std::uint32_t mult_ = 1;
  std::uint32_t persist_ = 0;
  bool dsack_round_set_ = false;
  SeqNum dsack_round_;
  Scoreboard::Id scan_ = 0;                 ///< originals before it are delivered or lost
  std::vector<Watch> retrans_;  ///< retransmissions in the order they left; [rhead_, end) may be in flight
  std::size_t rhead_ = 0;
};

}  // namespace tunstack::tcp
