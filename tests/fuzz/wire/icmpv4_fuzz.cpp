// Fuzzes Icmpv4View/Icmpv4Repr: parse arbitrary bytes (optionally with the checksum fixed up so
// parsing goes deeper), emit, parse again; the second emit must equal the first. Also drives the
// error builders and may_send_error_for with the input as the offending packet.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/checksum/checksum.hpp"
#include "stack/wire/icmpv4.hpp"
#include "tests/fuzz/wire/fuzz_check.hpp"

using namespace tunstack;
using namespace tunstack::wire;
using tunstack::fuzz::require;
using tunstack::fuzz::same_bytes;

namespace {

std::vector<std::byte> emit_to_vec(const Icmpv4Repr& r) {
  std::vector<std::byte> out(r.size());
  r.emit(out);
  require(checksum::verify(out), "emitted checksum does not verify");
  return out;
}

void builders(Bytes offending, std::uint8_t k) {
  const Icmpv4Repr reprs[] = {
      Icmpv4Repr::dest_unreachable(static_cast<Icmpv4Unreach>(k & 15), offending),
      Icmpv4Repr::frag_needed(static_cast<std::uint16_t>(k * 257), offending),
      Icmpv4Repr::time_exceeded(static_cast<Icmpv4TimeExceededCode>(k & 1), offending),
      Icmpv4Repr::param_problem(k, offending),
  };
  for (const Icmpv4Repr& r : reprs) {
    require(20 + r.size() <= kIcmpv4ErrorMaxDatagram, "error exceeds 576 bytes");
    require(same_bytes(r.body(), offending.first(r.body().size())), "quote is not a prefix");
    const auto m = emit_to_vec(r);
    auto back = Icmpv4Repr::parse(*Icmpv4View::check(m));
    require(back.ok() == (r.body().size() >= kIcmpv4MinQuote), "built error does not parse");
  }
  Icmpv4ErrorTrigger t;
  if (offending.size() >= 20) {
    t.src = Ip4Addr::load(offending.data() + 12);
    t.dst = Ip4Addr::load(offending.data() + 16);
  }
  t.icmp_type = (k & 0x80) != 0 ? std::optional<std::uint8_t>{k} : std::nullopt;
  t.non_initial_fragment = (k & 0x40) != 0;
  if (may_send_error_for(t)) {
    require(!t.non_initial_fragment && !t.dst.is_multicast() && !t.src.is_multicast(),
            "may_send_error_for allowed a forbidden case");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const Bytes in = as_bytes(data + 1, size - 1);
  std::vector<std::byte> msg(in.begin(), in.end());
  builders(msg, mode);
  auto v = Icmpv4View::check(msg);
  if (!v) return 0;
  if ((mode & 1) != 0) {
    store_be16(msg.data() + 2, 0);
    store_be16(msg.data() + 2, checksum::internet(msg));
    v = Icmpv4View::check(msg);
  }
  auto r = Icmpv4Repr::parse(*v);
  if (!r) return 0;
  require(r->size() == msg.size(), "repr size differs from the message");
  const auto first = emit_to_vec(*r);
  auto back = Icmpv4Repr::parse(*Icmpv4View::check(first));
  require(back.ok(), "emitted message does not parse");
  require(back->message.index() == r->message.index(), "message kind changed");
  require(same_bytes(back->body(), r->body()), "body changed");
  require(emit_to_vec(*back) == first, "second emit differs");
  return 0;
}
