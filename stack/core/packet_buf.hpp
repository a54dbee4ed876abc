#pragma once
// The one owning packet buffer. Bytes live in a pooled block with headroom in front, so lower
// layers prepend headers without copying. PacketBuf is moved by value; everyone else borrows views.
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/core/bytes.hpp"

namespace tunstack {

class BufPool;

/// A pooled, move-only packet buffer: [headroom | data | tailroom].
class PacketBuf {
 public:
  PacketBuf() = default;
  PacketBuf(PacketBuf&& o) noexcept { steal(o); }
  PacketBuf& operator=(PacketBuf&& o) noexcept {
    if (this != &o) {
      release();
      steal(o);
    }
    return *this;
  }
  PacketBuf(const PacketBuf&) = delete;
  PacketBuf& operator=(const PacketBuf&) = delete;
  ~PacketBuf() { release(); }

  /// False for a default-constructed or moved-from buffer.
  bool valid() const { return base_ != nullptr; }
  std::byte* data() { return base_ + head_; }
  const std::byte* data() const { return base_ + head_; }
  std::size_t size() const { return len_; }
  MutBytes bytes() { return {data(), len_}; }
  Bytes view() const { return {data(), len_}; }
  std::size_t headroom() const { return head_; }
  std::size_t tailroom() const { return cap_ - head_ - len_; }
  std::size_t capacity() const { return cap_; }

  /// Grows the data at the front into the headroom and returns the new front bytes.
  MutBytes prepend(std::size_t n) {
    assert(n <= head_);
    head_ -= static_cast<std::uint32_t>(n);
    len_ += static_cast<std::uint32_t>(n);
    return {data(), n};
  }
  /// Grows the data at the back into the tailroom and returns the new back bytes.
  MutBytes append(std::size_t n) {
    assert(n <= tailroom());
    std::byte* p = data() + len_;
    len_ += static_cast<std::uint32_t>(n);
    return {p, n};
  }
  /// Drops n bytes from the front (e.g. after a header was consumed).
  void trim_front(std::size_t n) {
    assert(n <= len_);
    head_ += static_cast<std::uint32_t>(n);
    len_ -= static_cast<std::uint32_t>(n);
  }
  /// Shortens the data to n bytes (n <= size()).
  void truncate(std::size_t n) {
    assert(n <= len_);
    len_ = static_cast<std::uint32_t>(n);
  }
  /// Sets the data length to n bytes at the current start (n <= size() + tailroom()).
  void resize(std::size_t n) {
    assert(n <= cap_ - head_);
    len_ = static_cast<std::uint32_t>(n);
  }
  /// Empties the buffer and puts the start at `headroom` bytes into the block.
  void reset(std::size_t headroom) {
    assert(headroom <= cap_);
    head_ = static_cast<std::uint32_t>(headroom);
    len_ = 0;
  }

 private:
  friend class BufPool;
  PacketBuf(BufPool* pool, std::byte* base, std::uint32_t cap, std::uint32_t head, std::uint8_t cls)
      : pool_(pool), base_(base), cap_(cap), head_(head), cls_(cls) {}
  void steal(PacketBuf& o) {
    pool_ = o.pool_;
    base_ = o.base_;
    cap_ = o.cap_;
    head_ = o.head_;
    len_ = o.len_;
    cls_ = o.cls_;
    o.base_ = nullptr;
    o.pool_ = nullptr;
    o.len_ = 0;
  }
  void release();

  BufPool* pool_ = nullptr;
  std::byte* base_ = nullptr;
  std::uint32_t cap_ = 0;
  std::uint32_t head_ = 0;
  std::uint32_t len_ = 0;
  std::uint8_t cls_ = 0;
};

/// A bounded pool of packet blocks in two size classes (MTU-sized and 64 KiB, for GSO and
/// reassembled datagrams). Single-threaded: one pool per event loop. Blocks come from mimalloc
/// and are recycled through free lists; buffers must not outlive their pool.
class BufPool {
 public:
  /// Limits of a pool; every limit has a safe default.
  struct Config {
    std::size_t headroom = 128;          ///< bytes reserved in front for prepended headers
    std::size_t small_size = 2048;       ///< block size of the small class (>= MTU + headroom)
    std::size_t large_size = 65536 + 256;  ///< block size of the large class
    std::size_t max_bytes = 256u << 20;  ///< cap on all blocks handed out (both classes)
    std::size_t max_cached = 4096;       ///< free blocks kept per class before returning memory
  };
  /// What the pool has done; exhausted counts allocations refused at the cap.
  struct Stats {
    std::uint64_t allocs = 0;
    std::uint64_t exhausted = 0;
    std::uint64_t oversize = 0;
    std::size_t bytes_out = 0;
    std::size_t blocks_out = 0;
  };

  BufPool() : BufPool(Config{}) {}
  explicit BufPool(Config cfg);
  ~BufPool();
  BufPool(const BufPool&) = delete;
  BufPool& operator=(const BufPool&) = delete;

  /// A buffer with at least `min_size` bytes after the configured headroom; invalid (and counted)
  /// when the pool is at its cap or min_size is larger than the large class.
  [[nodiscard]] PacketBuf alloc(std::size_t min_size);
  /// A buffer holding a copy of `bytes` (the one copy, e.g. from a socket read into a packet).
  [[nodiscard]] PacketBuf copy_of(Bytes bytes);

  const Stats& stats() const { return stats_; }
  const Config& config() const { return cfg_; }

 private:
  friend class PacketBuf;
  void give_back(std::byte* base, std::uint8_t cls);
  std::size_t class_size(std::uint8_t cls) const { return cls == 0 ? cfg_.small_size : cfg_.large_size; }

  Config cfg_;
  Stats stats_;
  std::array<std::vector<std::byte*>, 2> free_;
};

inline void PacketBuf::release() {
  if (base_ != nullptr) pool_->give_back(base_, cls_);
  base_ = nullptr;
  pool_ = nullptr;
}

}  // namespace tunstack
