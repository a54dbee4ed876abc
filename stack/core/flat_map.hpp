#pragma once
// A bounded open-addressing hash map (linear probing, backward-shift deletion) for flow demux.
// Capacity is fixed at construction, so inserts never allocate or rehash on the data path; a full
// map refuses inserts and the caller counts the refusal.
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "stack/core/addr.hpp"

namespace tunstack {

/// The default hash of FlatMap: the key's ADL-visible hash_value(const K&) -> uint64_t.
struct AdlHash {
  template <class K>
  std::uint64_t operator()(const K& k) const {
    return hash_value(k);
  }
};

/// Fixed-capacity flat hash map. Keys chosen by remote peers (flows, fragments) are hashed with a
/// per-table secret `seed` and mixed (hash_mix), so colliding keys cannot be precomputed.
template <class K, class V, class Hash = AdlHash>
class FlatMap {
 public:
  /// Holds up to `max_entries`; the table is sized to keep the load factor at or below ~0.7.
  explicit FlatMap(std::size_t max_entries, std::uint64_t seed = 0) : max_(max_entries), seed_(seed) {
    std::size_t slots = 16;
    while (slots * 7 < max_entries * 10 + 10) slots <<= 1;
    slots_.resize(slots);
    mask_ = slots - 1;
  }

  std::size_t size() const { return size_; }
  std::size_t max_size() const { return max_; }
  bool full() const { return size_ >= max_; }

  V* find(const K& k) {
    for (std::size_t i = home(k);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == k) return &s.value;
    }
  }
  const V* find(const K& k) const { return const_cast<FlatMap*>(this)->find(k); }

  /// Inserts k -> v unless k is present or the map is full; returns the stored value or nullptr.
  V* insert(const K& k, V v) {
    std::size_t i = home(k);
    for (;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) break;
      if (s.key == k) return nullptr;
    }
    if (full()) return nullptr;
    slots_[i].used = true;
    slots_[i].key = k;
    slots_[i].value = std::move(v);
    ++size_;
    return &slots_[i].value;
  }

  /// Removes k; returns whether it was present.
  bool erase(const K& k) {
    std::size_t i = home(k);
    for (;; i = (i + 1) & mask_) {
      if (!slots_[i].used) return false;
      if (slots_[i].key == k) break;
    }
    // Backward-shift deletion: pull later members of the probe run into the hole so no
    // tombstones accumulate (lookups stay short under churn).
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask_; slots_[j].used; j = (j + 1) & mask_) {
      std::size_t h = home(slots_[j].key);
      bool movable = ((j - h) & mask_) >= ((j - hole) & mask_);
      if (movable) {
        slots_[hole] = std::move(slots_[j]);
        hole = j;
      }
    }
    slots_[hole].used = false;
    slots_[hole].value = V{};
    --size_;
    return true;
  }

  /// Calls f(key, value) for every entry (order unspecified; do not insert or erase inside f).
  template <class F>
  void for_each(F&& f) {
    for (Slot& s : slots_)
      if (s.used) f(s.key, s.value);
  }

 private:
  struct Slot {
    K key{};
    V value{};
    bool used = false;
  };
  std::size_t home(const K& k) const {
    return static_cast<std::size_t>(hash_mix(static_cast<std::uint64_t>(Hash{}(k)) ^ seed_)) & mask_;
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t max_;
  std::uint64_t seed_;
};

}  // namespace tunstack
