#pragma once
// A byte ring, the storage of both the send and the receive buffer. Its capacity is a promise
// (what the advertised window or the outbound may fill), not an allocation: storage is allocated
// on the first write, grows by doubling up to the capacity as more bytes are held at once, and is
// released by its owner when the ring is empty. So an idle connection holds no buffer memory and
// a busy one holds about what it actually buffers. Growth is rare (at most log2(capacity / 4 KiB)
// times between two releases), never per segment.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "stack/core/bytes.hpp"

namespace tunstack::tcp {

/// Byte storage addressed by offset from the read position; wraps around.
class ByteRing {
 public:
  /// The first allocation: small, so that a connection moving a few bytes costs little.
  static constexpr std::uint32_t kMinAlloc = 4096;

  /// `gauge` (optional) tracks the bytes of storage allocated, summed over rings.
  explicit ByteRing(std::uint32_t capacity, std::uint64_t* gauge = nullptr) : gauge_(gauge), cap_(capacity) {}
  ~ByteRing() { release(); }
  ByteRing(const ByteRing&) = delete;
  ByteRing& operator=(const ByteRing&) = delete;

  std::size_t capacity() const { return cap_; }
  /// Bytes of storage held now (0 after release()).
  std::size_t allocated() const { return size_; }
  /// Raises the capacity (never lowers it: a capacity may already be promised to the peer).
  void grow_capacity(std::uint32_t capacity) { cap_ = std::max(cap_, capacity); }

  /// Makes offsets [0, n) past the read position writable (n <= capacity), keeping the bytes
  /// held so far at their offsets. False when memory is exhausted.
  [[nodiscard]] bool reserve(std::size_t n) {
    if (n <= size_) return true;
    std::size_t want = std::max<std::size_t>({n, kMinAlloc, std::size_t{size_} * 2});
    if (want & (want - 1)) want = std::size_t{1} << (64 - __builtin_clzll(want));  // next power of 2
    want = std::min<std::size_t>(want, std::max<std::size_t>(cap_, n));
    auto* fresh = new (std::nothrow) std::byte[want];
    if (fresh == nullptr) return false;
    if (size_ > 0) {
      // Unwrap the old contents to the start of the new storage: offsets stay valid.
      std::memcpy(fresh, buf_.get() + head_, size_ - head_);
      std::memcpy(fresh + (size_ - head_), buf_.get(), head_);
    }
    account(static_cast<std::int64_t>(want) - static_cast<std::int64_t>(size_));
    buf_.reset(fresh);
    size_ = static_cast<std::uint32_t>(want);
    head_ = 0;
    return true;
  }
  /// Frees the storage; the caller guarantees that no byte in it is still needed.
  void release() {
    if (!buf_) return;
    account(-static_cast<std::int64_t>(size_));
    buf_.reset();
    size_ = 0;
    head_ = 0;
  }

  /// Copies `data` to offset `off` past the read position (after reserve(off + size)).
  void write_at(std::size_t off, Bytes data) {
    if (data.empty()) return;
    const std::size_t pos = (head_ + off) % size_;
    const std::size_t first = std::min(data.size(), size_ - pos);
    std::memcpy(buf_.get() + pos, data.data(), first);
    if (first < data.size()) std::memcpy(buf_.get(), data.data() + first, data.size() - first);
  }
  /// Copies out.size() bytes from offset `off` past the read position.
  void read_at(std::size_t off, MutBytes out) const {
    if (out.empty()) return;
    const std::size_t pos = (head_ + off) % size_;
    const std::size_t first = std::min(out.size(), size_ - pos);
    std::memcpy(out.data(), buf_.get() + pos, first);
    if (first < out.size()) std::memcpy(out.data() + first, buf_.get(), out.size() - first);
  }
  /// The contiguous bytes at offset `off`, at most `n` (the caller loops for the wrapped rest).
  Bytes contiguous(std::size_t off, std::size_t n) const {
    if (n == 0 || !buf_) return {};
    const std::size_t pos = (head_ + off) % size_;
    return {buf_.get() + pos, std::min(n, size_ - pos)};
  }
  /// Moves the read position forward by n.
  void advance(std::size_t n) {
    if (size_ > 0) head_ = static_cast<std::uint32_t>((head_ + n) % size_);
  }

 private:
  void account(std::int64_t delta) {
    if (gauge_ != nullptr) *gauge_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(*gauge_) + delta);
  }

  std::unique_ptr<std::byte[]> buf_;
  std::uint64_t* gauge_;
  std::uint32_t cap_;       ///< most bytes the owner may hold
  std::uint32_t size_ = 0;  ///< bytes of storage (a power of two, or the capacity)
  std::uint32_t head_ = 0;  ///< storage index of offset 0
};

}  // namespace tunstack::tcp
