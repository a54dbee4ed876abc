#include "stack/core/packet_buf.hpp"

#include <mimalloc.h>

#include <cstring>

namespace tunstack {

namespace {
constexpr std::size_t kAlign = 64;  // cache-line aligned blocks: headers start on a clean line
}

BufPool::BufPool(Config cfg) : cfg_(cfg) {
  assert(cfg_.headroom < cfg_.small_size && cfg_.small_size <= cfg_.large_size);
  for (auto& list : free_) list.reserve(cfg_.max_cached);  // no growth on the data path
}

BufPool::~BufPool() {
  assert(stats_.blocks_out == 0 && "a PacketBuf outlived its pool");
  for (auto& list : free_)
    for (std::byte* b : list) mi_free(b);
}

PacketBuf BufPool::alloc(std::size_t min_size) {
  const std::size_t need = min_size + cfg_.headroom;
  if (need > cfg_.large_size) {
    ++stats_.oversize;
    return {};
  }
  const std::uint8_t cls = need <= cfg_.small_size ? 0 : 1;
  const std::size_t size = class_size(cls);
  if (stats_.bytes_out + size > cfg_.max_bytes) {
    ++stats_.exhausted;
    return {};
  }
  std::byte* base;
  if (!free_[cls].empty()) {
    base = free_[cls].back();
    free_[cls].pop_back();
  } else {
    base = static_cast<std::byte*>(mi_malloc_aligned(size, kAlign));
    if (base == nullptr) {
      ++stats_.exhausted;
      return {};
    }
  }
  ++stats_.allocs;
  ++stats_.blocks_out;
  stats_.bytes_out += size;
  return PacketBuf{this, base, static_cast<std::uint32_t>(size),
                   static_cast<std::uint32_t>(cfg_.headroom), cls};
}

PacketBuf BufPool::copy_of(Bytes bytes) {
  PacketBuf b = alloc(bytes.size());
  if (b.valid() && !bytes.empty()) std::memcpy(b.append(bytes.size()).data(), bytes.data(), bytes.size());
  return b;
}

void BufPool::give_back(std::byte* base, std::uint8_t cls) {
  --stats_.blocks_out;
  stats_.bytes_out -= class_size(cls);
  if (free_[cls].size() < cfg_.max_cached) {
    free_[cls].push_back(base);
  } else {
    mi_free(base);
  }
}

}  // namespace tunstack
