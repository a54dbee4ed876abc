#include "stack/ip/fragment.hpp"

#include <algorithm>
#include <cstring>

#include "stack/wire/ipv4.hpp"
#include "stack/wire/ipv6.hpp"

namespace tunstack::ip {

namespace {

constexpr std::size_t round_down8(std::size_t n) { return n & ~std::size_t{7}; }

/// Copies a datagram that needs no fragmenting into out[0].
Result<std::size_t, FragmentError> copy_whole(Bytes datagram, BufPool& pool,
                                              std::span<PacketBuf> out) {
  if (out.empty()) return Err{FragmentError::TooManyFragments};
  PacketBuf b = pool.copy_of(datagram);
  if (!b.valid()) return Err{FragmentError::NoBuffer};
  out[0] = std::move(b);
  return std::size_t{1};
}

/// Releases the fragments already produced when a later allocation fails.
Result<std::size_t, FragmentError> no_buffer(std::span<PacketBuf> out, std::size_t made) {
  for (std::size_t i = 0; i < made; ++i) out[i] = PacketBuf{};
  return Err{FragmentError::NoBuffer};
}

/// The options that go into non-first fragments: those with the copied flag (RFC 791 §3.1).
wire::Ipv4Options copied_options(const wire::Ipv4Options& all) {
  wire::Ipv4Options kept;
  wire::Ipv4OptionReader rd(all.bytes());
  for (;;) {
    auto o = rd.next();
    if (!o || !*o) break;  // already validated by Ipv4Repr::parse
    if ((*o)->copied()) {
      const bool fits = kept.append((*o)->raw);  // a subset of <= 40 bytes always fits
      (void)fits;
    }
  }
  return kept;
}

}  // namespace

const char* to_string(FragmentError e) {
  switch (e) {
    case FragmentError::Malformed: return "malformed";
    case FragmentError::DontFragment: return "dont_fragment";
    case FragmentError::MtuTooSmall: return "mtu_too_small";
    case FragmentError::AlreadyFragmented: return "already_fragmented";
    case FragmentError::TooManyFragments: return "too_many_fragments";
    case FragmentError::NoBuffer: return "no_buffer";
  }
  return "unknown";
}

Result<std::size_t, FragmentError> fragment_v4(Bytes datagram, std::size_t mtu, BufPool& pool,
                                               std::span<PacketBuf> out) {
  auto v = wire::Ipv4View::check(datagram);
  if (!v) return Err{FragmentError::Malformed};
  auto first = wire::Ipv4Repr::parse(*v, /*verify_checksum=*/false);
  if (!first) return Err{FragmentError::Malformed};
  if (v->total_length() <= mtu) return copy_whole(v->bytes(), pool, out);
  if (v->dont_frag()) return Err{FragmentError::DontFragment};

  const Bytes payload = v->payload();
  if (first->frag_offset + payload.size() > wire::kIpv4MaxTotalLen) return Err{FragmentError::Malformed};
  wire::Ipv4Repr rest = *first;
  rest.options = copied_options(first->options);
  if (mtu < first->header_len() + 8) return Err{FragmentError::MtuTooSmall};
  const std::size_t first_data = round_down8(mtu - first->header_len());
  const std::size_t rest_data = round_down8(mtu - rest.header_len());  // >= first_data
  // total_length > mtu, so the payload is larger than first_data: at least two fragments.
  const std::size_t n = 1 + (payload.size() - first_data + rest_data - 1) / rest_data;
  if (n > out.size()) return Err{FragmentError::TooManyFragments};

  std::size_t off = 0;
  for (std::size_t i = 0; i < n; ++i) {
    wire::Ipv4Repr h = i == 0 ? *first : rest;
    const std::size_t chunk = std::min(i == 0 ? first_data : rest_data, payload.size() - off);
    h.payload_len = static_cast<std::uint16_t>(chunk);
    h.frag_offset = static_cast<std::uint16_t>(first->frag_offset + off);
    h.more_frags = off + chunk < payload.size() || first->more_frags;
    PacketBuf b = pool.alloc(h.header_len() + chunk);
    if (!b.valid()) return no_buffer(out, i);
    MutBytes m = b.append(h.header_len() + chunk);
    h.emit(m);
    std::memcpy(m.data() + h.header_len(), payload.data() + off, chunk);
    out[i] = std::move(b);
    off += chunk;
  }
  return n;
}

Result<std::size_t, FragmentError> fragment_v6(Bytes packet, std::size_t mtu, std::uint32_t ident,
                                               BufPool& pool, std::span<PacketBuf> out) {
  auto v = wire::Ipv6View::check(packet);
  if (!v) return Err{FragmentError::Malformed};
  auto u = wire::find_unfragmentable(*v);
  if (!u) {
    return Err{u.error() == wire::ParseError::BadFragment ? FragmentError::AlreadyFragmented
                                                          : FragmentError::Malformed};
  }
  const Bytes whole = v->bytes();
  if (whole.size() <= mtu) return copy_whole(whole, pool, out);

  const std::size_t unfrag = u->length;
  if (mtu < unfrag + wire::kIpv6FragHeaderLen + 8) return Err{FragmentError::MtuTooSmall};
  const std::size_t per = round_down8(mtu - unfrag - wire::kIpv6FragHeaderLen);
  const std::size_t data_len = whole.size() - unfrag;
  const std::size_t n = (data_len + per - 1) / per;
  if (n > out.size()) return Err{FragmentError::TooManyFragments};

  const std::uint8_t upper_nh = load_u8(whole.data() + u->next_header_field);
  std::size_t off = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t chunk = std::min(per, data_len - off);
    const std::size_t size = unfrag + wire::kIpv6FragHeaderLen + chunk;
    PacketBuf b = pool.alloc(size);
    if (!b.valid()) return no_buffer(out, i);
    std::byte* m = b.append(size).data();
    std::memcpy(m, whole.data(), unfrag);
    store_be16(m + 4, static_cast<std::uint16_t>(size - wire::kIpv6HeaderLen));
    store_u8(m + u->next_header_field, static_cast<std::uint8_t>(wire::IpProto::Ipv6Frag));
    const wire::Ipv6FragHeader fh{upper_nh, static_cast<std::uint16_t>(off),
                                  off + chunk < data_len, ident};
    fh.emit(MutBytes{m + unfrag, wire::kIpv6FragHeaderLen});
    std::memcpy(m + unfrag + wire::kIpv6FragHeaderLen, whole.data() + unfrag + off, chunk);
    out[i] = std::move(b);
    off += chunk;
  }
  return n;
}

}  // namespace tunstack::ip
