#include "stack/wire/tcp.hpp"

#include <algorithm>
#include <cassert>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/ip_proto.hpp"

namespace tunstack::wire {

namespace {

constexpr auto kTcp = static_cast<std::uint8_t>(IpProto::Tcp);

// Fixed option lengths (RFC 9293 §3.2, RFC 7323 §2.2/§3.2, RFC 2018 §2/§3).
constexpr std::uint8_t kMssLen = 4;
constexpr std::uint8_t kWsLen = 3;
constexpr std::uint8_t kSackPermLen = 2;
constexpr std::uint8_t kTsLen = 10;
constexpr std::uint8_t kSackBaseLen = 2;
constexpr std::uint8_t kSackBlockLen = 8;

// Four-byte option words as Linux writes them (include/net/tcp.h, tcp_options_write()).
constexpr std::uint32_t kWordMss = 0x02040000;        // kind 2, len 4, value in the low half
constexpr std::uint32_t kWordSackPermTs = 0x0402080a; // SACK-permitted, then TS kind/len
constexpr std::uint32_t kWordNopNopTs = 0x0101080a;
constexpr std::uint32_t kWordNopNopSackPerm = 0x01010402;
constexpr std::uint32_t kWordNopWs = 0x01030300;     // NOP, kind 3, len 3, shift in the low byte
constexpr std::uint32_t kWordNopNopSack = 0x01010500; // NOP, NOP, kind 5, len in the low byte

/// The accumulator of header + payload, as one add() when they are contiguous (the prepend case).
std::uint64_t sum_header_payload(Bytes header, Bytes payload, std::uint64_t sum) {
  // An empty payload is skipped, not summed: its data() may be null, and a vector checksum's
  // masked load near an unmapped page costs a microcode assist (~100 ns measured) even for 0 bytes.
  if (payload.empty()) return checksum::add(header, sum);
  if (header.data() + header.size() == payload.data())
    return checksum::add(Bytes{header.data(), header.size() + payload.size()}, sum);
  // TCP headers are a multiple of 4 bytes long, so chaining the partial sums is exact.
  return checksum::add(payload, checksum::add(header, sum));
}

/// Reads the SACK blocks of an option whose length was validated (2 + 8n, n in 1..4).
void read_sack(TcpOptions& r, const std::byte* p, std::uint8_t len) {
  r.sack_count = static_cast<std::uint8_t>((len - kSackBaseLen) / kSackBlockLen);
  for (std::size_t b = 0; b < r.sack_count; ++b) {
    const std::byte* q = p + kSackBaseLen + b * kSackBlockLen;
    r.sack[b] = SackBlock{SeqNum{load_be32(q)}, SeqNum{load_be32(q + 4)}};
  }
  for (std::size_t b = r.sack_count; b < kTcpMaxSackBlocks; ++b) r.sack[b] = SackBlock{};
}

/// Applies one option of `len` bytes at p (len already checked to be >= 2 and in bounds).
/// False when a known kind has a length its RFC does not allow.
bool apply_option(TcpOptions& r, const std::byte* p, std::uint8_t kind, std::uint8_t len) {
  switch (static_cast<TcpOptionKind>(kind)) {
    case TcpOptionKind::Mss:
      if (len != kMssLen) return false;
      r.mss = load_be16(p + 2);
      return true;
    case TcpOptionKind::WindowScale: {
      if (len != kWsLen) return false;
      const std::uint8_t shift = load_u8(p + 2);
      // RFC 7323 §2.3: a shift above 14 is logged and treated as 14.
      r.wscale_clamped = shift > kTcpMaxWindowShift;
      r.wscale = std::min(shift, kTcpMaxWindowShift);
      return true;
    }
    case TcpOptionKind::SackPermitted:
      if (len != kSackPermLen) return false;
      r.sack_permitted = true;
      return true;
    case TcpOptionKind::Sack:
      if (len < kSackBaseLen + kSackBlockLen ||
          len > kSackBaseLen + kTcpMaxSackBlocks * kSackBlockLen ||
          (len - kSackBaseLen) % kSackBlockLen != 0)
        return false;
      read_sack(r, p, len);
      return true;
    case TcpOptionKind::Timestamps:
      if (len != kTsLen) return false;
      r.timestamps = TcpTimestamps{load_be32(p + 2), load_be32(p + 6)};
      return true;
    default:
      return true;  // RFC 9293 §3.2: unknown options are skipped by their length
  }
}

/// Bytes of the options other than SACK blocks, in the emitted layout.
std::size_t fixed_options_size(const TcpOptions& o) {
  std::size_t n = 0;
  if (o.mss) n += 4;
  if (o.timestamps) n += 12;  // SACK-permitted rides in the TS word pair when both are present
  else if (o.sack_permitted) n += 4;
  if (o.wscale) n += 4;
  return n;
}

}  // namespace

std::string TcpFlags::to_string() const {
  static constexpr const char* kNames[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
  std::string s;
  for (unsigned i = 0; i < 8; ++i) {
    if ((bits_ >> i & 1u) == 0) continue;
    if (!s.empty()) s += '|';
    s += kNames[i];
  }
  return s.empty() ? "none" : s;
}

Status<ParseError> TcpOptions::parse_into(Bytes o, TcpOptions& r) {
  r = TcpOptions{};
  // Fast path for the layout of nearly every segment on an established connection (Linux's
  // tcp_fast_parse_options does the same): exactly NOP, NOP, timestamps.
  if (o.size() == 12 && load_be32(o.data()) == kWordNopNopTs) {
    r.timestamps = TcpTimestamps{load_be32(o.data() + 4), load_be32(o.data() + 8)};
    return {};
  }
  std::size_t i = 0;
  while (i < o.size()) {
    const std::uint8_t kind = load_u8(o.data() + i);
    // RFC 9293 §3.2: End of Option List; what follows is padding and is not interpreted.
    if (kind == static_cast<std::uint8_t>(TcpOptionKind::Eol)) break;
    if (kind == static_cast<std::uint8_t>(TcpOptionKind::Nop)) {
      ++i;
      continue;
    }
    if (o.size() - i < 2) return Err{ParseError::BadOption};  // no room for the length byte
    const std::uint8_t len = load_u8(o.data() + i + 1);
    // RFC 9293 §3.2: the length counts kind and length bytes, so below 2 is malformed (and a
    // length of 0 would loop forever).
    if (len < 2 || len > o.size() - i) return Err{ParseError::BadOption};
    if (!apply_option(r, o.data() + i, kind, len)) return Err{ParseError::BadOption};
    i += len;
  }
  return {};
}

Result<TcpOptions, ParseError> TcpOptions::parse(Bytes o) {
  TcpOptions r;
  if (auto st = parse_into(o, r); !st) return Err{st.error()};
  return r;
}

bool TcpOptions::add_sack(SackBlock b) {
  if (sack_count >= kTcpMaxSackBlocks) return false;
  sack[sack_count++] = b;
  return true;
}

std::size_t TcpOptions::emitted_sack_count() const {
  const std::size_t room = kTcpMaxOptionsLen - fixed_options_size(*this);
  if (sack_count == 0 || room < 4 + kSackBlockLen) return 0;
  return std::min<std::size_t>(sack_count, (room - 4) / kSackBlockLen);
}

std::size_t TcpOptions::size() const {
  const std::size_t n = emitted_sack_count();
  return fixed_options_size(*this) + (n == 0 ? 0 : 4 + n * kSackBlockLen);
}

void TcpOptions::emit(MutBytes out) const {
  assert(out.size() >= size());
  std::byte* p = out.data();
  const auto word = [&p](std::uint32_t w) {
    store_be32(p, w);
    p += 4;
  };
  if (mss) word(kWordMss | *mss);
  if (timestamps) {
    word(sack_permitted ? kWordSackPermTs : kWordNopNopTs);
    word(timestamps->tsval);
    word(timestamps->tsecr);
  } else if (sack_permitted) {
    word(kWordNopNopSackPerm);
  }
  if (wscale) {
    assert(*wscale <= kTcpMaxWindowShift);
    word(kWordNopWs | *wscale);
  }
  const std::size_t n = emitted_sack_count();
  if (n != 0) {
    word(kWordNopNopSack | static_cast<std::uint32_t>(kSackBaseLen + n * kSackBlockLen));
    for (std::size_t b = 0; b < n; ++b) {
      word(sack[b].left.raw());
      word(sack[b].right.raw());
    }
  }
}

bool operator==(const TcpOptions& a, const TcpOptions& b) {
  return a.mss == b.mss && a.wscale == b.wscale && a.sack_permitted == b.sack_permitted &&
         a.timestamps == b.timestamps && std::ranges::equal(a.sack_blocks(), b.sack_blocks());
}

Result<TcpView, ParseError> TcpView::check(Bytes b) {
  if (b.size() < kTcpMinHeaderLen) return Err{ParseError::Truncated};
  const std::size_t hlen = (std::size_t{load_u8(b.data() + 12)} >> 4) * 4;
  if (hlen < kTcpMinHeaderLen || hlen > b.size()) return Err{ParseError::BadHeaderLength};
  return TcpView{b};
}

bool TcpView::verify_checksum(const IpAddr& src, const IpAddr& dst) const {
  assert(src.version() == dst.version());
  return checksum::verify(
      b_, checksum::pseudo_header(src, dst, kTcp, static_cast<std::uint32_t>(b_.size())));
}

Result<TcpRepr, ParseError> TcpRepr::parse(const TcpView& v) {
  TcpRepr r;
  if (auto st = TcpOptions::parse_into(v.options(), r.options); !st) return Err{st.error()};
  r.src_port = v.src_port();
  r.dst_port = v.dst_port();
  r.seq = v.seq();
  r.flags = v.flags();
  if (r.flags.has(TcpFlags::ACK)) r.ack = v.ack();
  r.window = v.window();
  r.urgent = v.urgent();
  r.payload_len = static_cast<std::uint32_t>(v.payload().size());
  return r;
}

Result<TcpRepr, ParseError> TcpRepr::parse(const TcpView& v, const IpAddr& src,
                                           const IpAddr& dst) {
  if (!v.verify_checksum(src, dst)) return Err{ParseError::BadChecksum};
  return parse(v);
}

std::size_t TcpRepr::write_header(MutBytes header) const {
  const std::size_t hlen = size();
  assert(header.size() >= hlen);
  assert(flags.has(TcpFlags::ACK) == ack.has_value());
  const TcpFlags wire_flags = ack ? flags.with(TcpFlags::ACK) : flags.without(TcpFlags::ACK);
  std::byte* p = header.data();
  store_be16(p, src_port.value);
  store_be16(p + 2, dst_port.value);
  store_be32(p + 4, seq.raw());
  store_be32(p + 8, ack ? ack->raw() : 0);
  store_u8(p + 12, static_cast<std::uint8_t>(hlen / 4 << 4));
  store_u8(p + 13, wire_flags.bits());
  store_be16(p + 14, window);
  store_be16(p + 16, 0);
  store_be16(p + 18, urgent);
  options.emit(header.subspan(kTcpMinHeaderLen));
  return hlen;
}

std::size_t TcpRepr::emit(MutBytes header, Bytes payload, const IpAddr& src,
                          const IpAddr& dst) const {
  const std::size_t hlen = write_header(header);
  assert(src.is_v6() || hlen + payload.size() <= 0xffff);
  const std::uint64_t sum = sum_header_payload(
      header.first(hlen), payload,
      checksum::pseudo_header(src, dst, kTcp, static_cast<std::uint32_t>(hlen + payload.size())));
  store_be16(header.data() + 16, checksum::finish(sum));
  return hlen;
}

std::size_t TcpRepr::emit_with_payload_sum(MutBytes header, std::uint64_t payload_sum,
                                           std::size_t payload_size, const IpAddr& src,
                                           const IpAddr& dst) const {
  const std::size_t hlen = write_header(header);
  assert(src.is_v6() || hlen + payload_size <= 0xffff);
  std::uint64_t sum =
      checksum::pseudo_header(src, dst, kTcp, static_cast<std::uint32_t>(hlen + payload_size));
  // Adding payload_sum with end-around carry keeps the 64-bit accumulator exact.
  sum = checksum::add(header.first(hlen), sum);
  const std::uint64_t total = sum + payload_sum;
  store_be16(header.data() + 16, checksum::finish(total + static_cast<std::uint64_t>(total < sum)));
  return hlen;
}

}  // namespace tunstack::wire
