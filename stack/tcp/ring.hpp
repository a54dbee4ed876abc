#pragma once
// A fixed-capacity byte ring, the storage of both the send and the receive buffer. Allocated once
// per connection; the data path only copies in and out of it.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>

#include "stack/core/bytes.hpp"

namespace tunstack::tcp {

/// Byte storage addressed by offset from the read position; wraps around.
class ByteRing {
 public:
  /// The storage is allocated on the first write, so half-open connections cost no buffer.
  explicit ByteRing(std::size_t capacity) : cap_(capacity) {}

  std::size_t capacity() const { return cap_; }
  /// Copies `data` to offset `off` past the read position (off + size <= capacity).
  void write_at(std::size_t off, Bytes data) {
    if (data.empty()) return;
    if (!buf_) buf_ = std::make_unique<std::byte[]>(cap_);
    std::size_t pos = (head_ + off) % cap_;
    const std::size_t first = std::min(data.size(), cap_ - pos);
    std::memcpy(buf_.get() + pos, data.data(), first);
    if (first < data.size()) std::memcpy(buf_.get(), data.data() + first, data.size() - first);
  }
  /// Copies out.size() bytes from offset `off` past the read position.
  void read_at(std::size_t off, MutBytes out) const {
    if (out.empty()) return;
    std::size_t pos = (head_ + off) % cap_;
    const std::size_t first = std::min(out.size(), cap_ - pos);
    std::memcpy(out.data(), buf_.get() + pos, first);
    if (first < out.size()) std::memcpy(out.data() + first, buf_.get(), out.size() - first);
  }
  /// The contiguous bytes at offset `off`, at most `n` (the caller loops for the wrapped rest).
  Bytes contiguous(std::size_t off, std::size_t n) const {
    if (n == 0 || !buf_) return {};
    std::size_t pos = (head_ + off) % cap_;
    return {buf_.get() + pos, std::min(n, cap_ - pos)};
  }
  /// Moves the read position forward by n.
  void advance(std::size_t n) { head_ = (head_ + n) % cap_; }

 private:
  std::unique_ptr<std::byte[]> buf_;
  std::size_t cap_;
  std::size_t head_ = 0;
};

}  // namespace tunstack::tcp
