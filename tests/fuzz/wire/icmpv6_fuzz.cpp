// Fuzzes Icmpv6View/Icmpv6Repr (errors, echo and NDP): parse arbitrary bytes (optionally with
// the checksum fixed up), emit, parse again; the second emit must equal the first. Also drives
// the error builders and may_send_error_for with the input as the offending packet.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/icmpv6.hpp"
#include "tests/fuzz/wire/fuzz_check.hpp"

using namespace tunstack;
using namespace tunstack::wire;
using tunstack::fuzz::require;
using tunstack::fuzz::same_bytes;

namespace {

const Ip6Addr kSrc = *Ip6Addr::parse("fd00::1");
const Ip6Addr kDst = *Ip6Addr::parse("fd00::2");

std::vector<std::byte> emit_to_vec(const Icmpv6Repr& r) {
  std::vector<std::byte> out(r.size());
  r.emit(out, kSrc, kDst);
  require(Icmpv6View::check(out)->verify_checksum(kSrc, kDst), "emitted checksum does not verify");
  return out;
}

void builders(Bytes offending, std::uint8_t k) {
  const Icmpv6Repr reprs[] = {
      Icmpv6Repr::dest_unreachable(static_cast<Icmpv6Unreach>(k % 7), offending),
      Icmpv6Repr::packet_too_big(k * 0x01010101u, offending),
      Icmpv6Repr::time_exceeded(static_cast<Icmpv6TimeExceededCode>(k & 1), offending),
      Icmpv6Repr::param_problem(static_cast<Icmpv6ParamCode>(k & 3), k, offending),
  };
  for (const Icmpv6Repr& r : reprs) {
    require(40 + r.size() <= kIcmpv6ErrorMaxPacket, "error exceeds 1280 bytes");
    require(same_bytes(r.body(), offending.first(r.body().size())), "quote is not a prefix");
    const auto m = emit_to_vec(r);
    auto back = Icmpv6Repr::parse(*Icmpv6View::check(m), kSrc, kDst);
    require(back.ok() == (r.body().size() >= kIcmpv6MinQuote), "built error does not parse");
    Icmpv6ErrorTrigger t;
    if (offending.size() >= 40) {
      t.src = Ip6Addr::load(offending.data() + 8);
      t.dst = Ip6Addr::load(offending.data() + 24);
    }
    if ((k & 0x80) != 0) t.icmpv6_type = k;
    if (may_send_error_for(t, r)) {
      require(!t.src.is_multicast() && !t.src.is_unspecified(), "error to a non-unicast source");
      require(!t.icmpv6_type || *t.icmpv6_type >= 128, "error about an error");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const Bytes in = as_bytes(data + 1, size - 1);
  std::vector<std::byte> msg(in.begin(), in.end());
  builders(msg, mode);
  auto v = Icmpv6View::check(msg);
  if (!v) return 0;
  if ((mode & 1) != 0) {
    store_be16(msg.data() + 2, 0);
    const auto len = static_cast<std::uint32_t>(msg.size());
    store_be16(msg.data() + 2,
               checksum::finish(checksum::add(msg, checksum::pseudo_header_v6(kSrc, kDst, 58, len))));
    v = Icmpv6View::check(msg);
  }
  auto r = Icmpv6Repr::parse(*v, kSrc, kDst);
  if (!r) return 0;
  require(r->size() == msg.size(), "repr size differs from the message");
  const auto first = emit_to_vec(*r);
  auto back = Icmpv6Repr::parse(*Icmpv6View::check(first), kSrc, kDst);
  require(back.ok(), "emitted message does not parse");
  require(back->message.index() == r->message.index(), "message kind changed");
  require(same_bytes(back->body(), r->body()), "body changed");
  require(emit_to_vec(*back) == first, "second emit differs");
  return 0;
}
