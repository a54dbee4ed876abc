// Fuzzes TcpView, TcpOptions and TcpRepr: parse arbitrary bytes, then emit the repr and parse
// it again; the round trip must be stable (same repr, same bytes on a second emit).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/tcp.hpp"
#include "tests/fuzz/wire/fuzz_check.hpp"

using namespace tunstack;
using namespace tunstack::wire;
using tunstack::fuzz::require;
using tunstack::fuzz::same_bytes;

namespace {

const IpAddr kSrc4 = Ip4Addr::from_host(0x0a000001);
const IpAddr kDst4 = Ip4Addr::from_host(0x0a000002);
const IpAddr kSrc6 = *Ip6Addr::parse("fd00::1");
const IpAddr kDst6 = *Ip6Addr::parse("fd00::2");

/// Writes a correct checksum into a segment so that fuzzing reaches past verification.
void fix_checksum(std::vector<std::byte>& seg, const IpAddr& src, const IpAddr& dst) {
  store_be16(seg.data() + 16, 0);
  const auto len = static_cast<std::uint32_t>(seg.size());
  store_be16(seg.data() + 16, checksum::finish(checksum::add(seg, checksum::pseudo_header(src, dst, 6, len))));
}

void round_trip(const TcpRepr& r, Bytes payload, const IpAddr& src, const IpAddr& dst) {
  std::vector<std::byte> out(r.size() + payload.size());
  std::copy(payload.begin(), payload.end(), out.begin() + static_cast<std::ptrdiff_t>(r.size()));
  const std::size_t hlen = r.emit(MutBytes{out.data(), r.size()},
                                  Bytes{out.data() + r.size(), payload.size()}, src, dst);
  require(hlen == r.size() && hlen % 4 == 0 && hlen <= kTcpMaxHeaderLen, "emitted header length");
  auto v = TcpView::check(out);
  require(v.ok(), "emitted segment fails check()");
  auto back = TcpRepr::parse(*v, src, dst);
  require(back.ok(), "emitted segment fails parse() (checksum or options)");
  TcpRepr expected = r;
  expected.options.wscale_clamped = false;  // a clamped shift is emitted as 14: no longer clamped
  expected.options.sack_count = static_cast<std::uint8_t>(r.options.emitted_sack_count());
  require(*back == expected, "repr changed across emit/parse");
  require(same_bytes(v->payload(), payload), "payload changed across emit/parse");
  // A second emit of the re-parsed repr is byte-identical: the layout is a fixed point.
  std::vector<std::byte> again(out.size());
  back->emit(MutBytes{again.data(), back->size()}, payload, src, dst);
  std::copy(payload.begin(), payload.end(), again.begin() + static_cast<std::ptrdiff_t>(back->size()));
  require(again == out, "second emit differs");
  // The precomputed-payload-sum path agrees with the plain one.
  std::vector<std::byte> hdr(back->size());
  back->emit_with_payload_sum(hdr, checksum::add(payload), payload.size(), src, dst);
  require(same_bytes(hdr, Bytes{out.data(), hdr.size()}), "emit_with_payload_sum differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const Bytes in = as_bytes(data + 1, std::min<std::size_t>(size - 1, 0xffff - 60));
  const bool v6 = (mode & 1) != 0;
  const IpAddr& src = v6 ? kSrc6 : kSrc4;
  const IpAddr& dst = v6 ? kDst6 : kDst4;

  // The options parser on its own, over any bytes.
  (void)TcpOptions::parse(in.first(std::min<std::size_t>(in.size(), kTcpMaxOptionsLen)));

  std::vector<std::byte> seg(in.begin(), in.end());
  auto v = TcpView::check(seg);
  if (!v) return 0;
  require(v->header_len() >= kTcpMinHeaderLen && v->header_len() <= seg.size(), "view bounds");
  require(v->options().size() + v->payload().size() + kTcpMinHeaderLen == seg.size(), "view split");
  const bool fixed = (mode & 2) != 0;
  if (fixed) {
    fix_checksum(seg, src, dst);
    v = TcpView::check(seg);
    require(v.ok() && v->verify_checksum(src, dst), "fixed checksum does not verify");
  }
  auto r = fixed ? TcpRepr::parse(*v, src, dst) : TcpRepr::parse(*v);
  if (!r) {
    require(r.error() == ParseError::BadOption || (!fixed && r.error() == ParseError::BadChecksum),
            "unexpected parse error");
    return 0;
  }
  require(!r->options.wscale || *r->options.wscale <= kTcpMaxWindowShift, "wscale above 14");
  require(r->ack.has_value() == r->flags.has(TcpFlags::ACK), "ack/flag mismatch");
  round_trip(*r, v->payload(), src, dst);
  return 0;
}
