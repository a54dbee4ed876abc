#include "stack/tcp/syncookie.hpp"

namespace tunstack::tcp {

namespace {
constexpr int kCookieBits = 24;
constexpr std::uint32_t kCookieMask = (1u << kCookieBits) - 1;
constexpr std::uint32_t kIndexMask = 3;  // the MSS index: 2 bits
constexpr std::uint32_t kMaxAge = 2;  // this slot and the one before (Linux MAX_SYNCOOKIE_AGE)
constexpr int kTsBits = 6;
constexpr std::uint32_t kTsWscaleMask = 0xf;  // 15: no window scaling
constexpr std::uint32_t kTsSack = 1u << 4;
}  // namespace

std::uint8_t SynCookies::mss_index(IpVersion v, std::uint16_t client_mss) {
  const auto& tab = v == IpVersion::V4 ? kMssV4 : kMssV6;
  auto i = static_cast<std::uint8_t>(tab.size() - 1);
  while (i > 0 && client_mss < tab[i]) --i;
  return i;
}

std::uint16_t SynCookies::mss_of(IpVersion v, std::uint8_t index) {
  const auto& tab = v == IpVersion::V4 ? kMssV4 : kMssV6;
  return tab[index < tab.size() ? index : 0];
}

std::uint32_t SynCookies::slot_of(Instant now) {
  return static_cast<std::uint32_t>(now.time_since_epoch() / kSlot);
}

std::uint32_t SynCookies::h0(const Endpoint& c, const Endpoint& s) const {
  return static_cast<std::uint32_t>(tuple_hash(key0_, c, s));
}

std::uint32_t SynCookies::mac(const Endpoint& c, const Endpoint& s, std::uint32_t slot, SeqNum client_isn,
                              std::uint8_t index) const {
  const std::uint64_t extra = (std::uint64_t{slot} << 32) | (std::uint64_t{client_isn.raw()} ^ (std::uint64_t{index} << 30));
  // Low 24 bits: 22 of MAC above the 2-bit index slot.
  return static_cast<std::uint32_t>(tuple_hash(key1_, c, s, extra)) & kCookieMask & ~kIndexMask;
}

SeqNum SynCookies::make(const Endpoint& client, const Endpoint& server, SeqNum client_isn,
                        std::uint8_t mss_index, Instant now) const {
  const std::uint32_t slot = slot_of(now);
  const std::uint8_t index = mss_index & kIndexMask;
  const std::uint32_t v = h0(client, server) + client_isn.raw() + (slot << kCookieBits) +
                          (mac(client, server, slot, client_isn, index) | index);
  return SeqNum{v};
}

std::optional<std::uint8_t> SynCookies::check(const Endpoint& client, const Endpoint& server,
                                              SeqNum client_isn, SeqNum cookie, Instant now) const {
  const std::uint32_t slot = slot_of(now);
  // What is left is (slot << 24) + (MAC << 2 | index); the top byte names the slot.
  const std::uint32_t v = cookie.raw() - h0(client, server) - client_isn.raw();
  const std::uint32_t age = (slot - (v >> kCookieBits)) & (0xffffffffu >> kCookieBits);
  if (age >= kMaxAge) return std::nullopt;
  const auto index = static_cast<std::uint8_t>(v & kIndexMask);
  if ((v & kCookieMask & ~kIndexMask) != mac(client, server, slot - age, client_isn, index)) return std::nullopt;
  return index;
}

std::uint32_t SynCookies::encode_ts(std::uint32_t ts_now, const TsBits& bits) {
  std::uint32_t opts = bits.wscale ? (*bits.wscale & kTsWscaleMask) : kTsWscaleMask;
  if (bits.sack) opts |= kTsSack;
  std::uint32_t ts = ((ts_now >> kTsBits) << kTsBits) | opts;
  if (static_cast<std::int32_t>(ts - ts_now) > 0) ts -= 1u << kTsBits;
  return ts;
}

SynCookies::TsBits SynCookies::decode_ts(std::uint32_t tsecr) {
  TsBits b;
  b.sack = (tsecr & kTsSack) != 0;
  const std::uint32_t ws = tsecr & kTsWscaleMask;
  if (ws != kTsWscaleMask && ws <= 14) b.wscale = static_cast<std::uint8_t>(ws);
  return b;
}

}  // namespace tunstack::tcp
