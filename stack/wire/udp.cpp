#include "stack/wire/udp.hpp"

#include <cassert>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/ip_proto.hpp"

namespace tunstack::wire {

namespace {

constexpr auto kUdp = static_cast<std::uint8_t>(IpProto::Udp);

/// The accumulator of header + payload, as one add() when they are contiguous (the prepend case).
std::uint64_t sum_header_payload(Bytes header, Bytes payload, std::uint64_t sum) {
  // An empty payload is skipped: its data() may be null (see tcp.cpp for the cost of summing it).
  if (payload.empty()) return checksum::add(header, sum);
  if (header.data() + header.size() == payload.data())
    return checksum::add(Bytes{header.data(), header.size() + payload.size()}, sum);
  // The header has even length, so chaining the two partial sums is exact.
  return checksum::add(payload, checksum::add(header, sum));
}

}  // namespace

Result<UdpView, ParseError> UdpView::check(Bytes b) {
  if (b.size() < kUdpHeaderLen) return Err{ParseError::Truncated};
  const std::uint16_t len = load_be16(b.data() + 4);
  if (len < kUdpHeaderLen) return Err{ParseError::BadTotalLength};
  if (len > b.size()) return Err{ParseError::Truncated};
  return UdpView{b.first(len)};
}

bool UdpView::verify_checksum(const IpAddr& src, const IpAddr& dst) const {
  assert(src.version() == dst.version());
  if (checksum() == 0) {
    // RFC 768: zero means the sender computed none (IPv4 only). RFC 8200 §8.1: an IPv6 receiver
    // must discard a UDP packet with a zero checksum.
    return src.is_v4();
  }
  return checksum::verify(b_, checksum::pseudo_header(src, dst, kUdp, length()));
}

UdpRepr UdpRepr::parse(const UdpView& v) {
  return UdpRepr{v.src_port(), v.dst_port(),
                 static_cast<std::uint16_t>(v.length() - kUdpHeaderLen)};
}

Result<UdpRepr, ParseError> UdpRepr::parse(const UdpView& v, const IpAddr& src,
                                           const IpAddr& dst) {
  if (!v.verify_checksum(src, dst)) return Err{ParseError::BadChecksum};
  return parse(v);
}

void UdpRepr::emit(MutBytes header, Bytes payload, const IpAddr& src, const IpAddr& dst) const {
  assert(header.size() >= kUdpHeaderLen);
  assert(payload.size() <= kUdpMaxPayload);
  assert(src.version() == dst.version());
  std::byte* p = header.data();
  const auto len = static_cast<std::uint16_t>(kUdpHeaderLen + payload.size());
  store_be16(p, src_port.value);
  store_be16(p + 2, dst_port.value);
  store_be16(p + 4, len);
  store_be16(p + 6, 0);
  const std::uint64_t sum = sum_header_payload(
      header.first(kUdpHeaderLen), payload, checksum::pseudo_header(src, dst, kUdp, len));
  std::uint16_t csum = checksum::finish(sum);
  // RFC 768: a computed zero is transmitted as all ones (zero would mean "no checksum"). The same
  // is required for IPv6 (RFC 8200 §8.1), where zero is never valid.
  if (csum == 0) csum = 0xffff;
  store_be16(p + 6, csum);
}

}  // namespace tunstack::wire
