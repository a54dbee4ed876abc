#include "stack/wire/ipv4.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "stack/checksum/checksum.hpp"

namespace tunstack::wire {

Result<std::optional<Ipv4Option>, ParseError> Ipv4OptionReader::next() {
  if (pos_ >= opts_.size()) return std::optional<Ipv4Option>{};
  const std::uint8_t type = load_u8(opts_.data() + pos_);
  if (type == static_cast<std::uint8_t>(Ipv4OptType::EndOfList)) {
    // RFC 791 §3.1: EOL ends the options; what follows is padding.
    pos_ = opts_.size();
    return std::optional<Ipv4Option>{};
  }
  if (type == static_cast<std::uint8_t>(Ipv4OptType::Nop)) {
    Ipv4Option o{type, 1, {}, opts_.subspan(pos_, 1)};
    ++pos_;
    return std::optional<Ipv4Option>{o};
  }
  const std::size_t left = opts_.size() - pos_;
  const std::size_t len = left >= 2 ? load_u8(opts_.data() + pos_ + 1) : 0;
  if (left < 2 || len < 2 || len > left) {
    pos_ = opts_.size();
    return Err{ParseError::BadOption};
  }
  Ipv4Option o{type, static_cast<std::uint8_t>(len), opts_.subspan(pos_ + 2, len - 2),
               opts_.subspan(pos_, len)};
  pos_ += len;
  return std::optional<Ipv4Option>{o};
}

Status<ParseError> Ipv4OptionReader::validate(Bytes options) {
  Ipv4OptionReader r(options);
  for (;;) {
    auto o = r.next();
    if (!o) return Err{o.error()};
    if (!*o) return {};
  }
}

Result<Ipv4View, ParseError> Ipv4View::check(Bytes bytes) {
  if (bytes.size() < kIpv4MinHeaderLen) return Err{ParseError::Truncated};
  const std::uint8_t vihl = load_u8(bytes.data());
  if ((vihl >> 4) != 4) return Err{ParseError::BadVersion};
  const std::size_t hlen = std::size_t{vihl & 0x0fu} * 4;
  if (hlen < kIpv4MinHeaderLen) return Err{ParseError::BadHeaderLength};
  const std::size_t total = load_be16(bytes.data() + 2);
  if (total < hlen) return Err{ParseError::BadTotalLength};
  if (total > bytes.size()) return Err{ParseError::Truncated};
  return Ipv4View{bytes.first(total)};
}

bool Ipv4View::checksum_ok() const { return checksum::verify(header()); }

bool Ipv4Options::assign(Bytes b) {
  if (b.size() > kCapacity) return false;
  if (!b.empty()) std::memcpy(buf_.data(), b.data(), b.size());
  len_ = static_cast<std::uint8_t>(b.size());
  return true;
}

bool Ipv4Options::append(Bytes b) {
  if (len_ + b.size() > kCapacity) return false;
  if (!b.empty()) std::memcpy(buf_.data() + len_, b.data(), b.size());
  len_ = static_cast<std::uint8_t>(len_ + b.size());
  return true;
}

bool operator==(const Ipv4Options& a, const Ipv4Options& b) {
  return a.len_ == b.len_ && std::equal(a.buf_.begin(), a.buf_.begin() + a.len_, b.buf_.begin());
}

Result<Ipv4Repr, ParseError> Ipv4Repr::parse(const Ipv4View& v, bool verify_checksum) {
  if (verify_checksum && !v.checksum_ok()) return Err{ParseError::BadChecksum};
  if (auto s = Ipv4OptionReader::validate(v.options()); !s) return Err{s.error()};
  Ipv4Repr r;
  r.src = v.src();
  r.dst = v.dst();
  r.protocol = v.protocol();
  r.ttl = v.ttl();
  r.dscp_ecn = v.dscp_ecn();
  r.ident = v.ident();
  r.dont_frag = v.dont_frag();
  r.more_frags = v.more_frags();
  r.frag_offset = v.frag_offset();
  r.payload_len = static_cast<std::uint16_t>(v.total_length() - v.header_len());
  const bool fits = r.options.assign(v.options());  // <= 40 bytes since IHL <= 15
  assert(fits);
  (void)fits;
  return r;
}

void Ipv4Repr::emit(MutBytes header) const {
  const std::size_t hlen = header_len();
  assert(header.size() >= hlen);
  assert(total_len() <= kIpv4MaxTotalLen);
  assert(frag_offset % 8 == 0);
  std::byte* p = header.data();
  store_u8(p, static_cast<std::uint8_t>(0x40 | (hlen / 4)));
  store_u8(p + 1, dscp_ecn);
  store_be16(p + 2, static_cast<std::uint16_t>(total_len()));
  store_be16(p + 4, ident);
  // The reserved flag bit is always sent as zero (RFC 791 §3.1).
  const unsigned flags = (dont_frag ? 0x4000u : 0u) | (more_frags ? 0x2000u : 0u);
  store_be16(p + 6, static_cast<std::uint16_t>(flags | (frag_offset / 8u)));
  store_u8(p + 8, ttl);
  store_u8(p + 9, static_cast<std::uint8_t>(protocol));
  store_be16(p + 10, 0);
  src.store(p + 12);
  dst.store(p + 16);
  const Bytes opts = options.bytes();
  if (!opts.empty()) std::memcpy(p + kIpv4MinHeaderLen, opts.data(), opts.size());
  // Padding is End of Option List (zero) bytes (RFC 791 §3.1).
  std::memset(p + kIpv4MinHeaderLen + opts.size(), 0, hlen - kIpv4MinHeaderLen - opts.size());
  store_be16(p + 10, checksum::internet(Bytes{p, hlen}));
}

}  // namespace tunstack::wire
