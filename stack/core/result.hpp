#pragma once
// A small expected-like result type (std::expected is C++23; Debian 12's g++ 12 lacks it).
// The data path returns these instead of throwing.
#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace tunstack {

/// Wraps an error value so that Result<T, E> can be built from it unambiguously.
template <class E>
struct Err {
  E value;
};
template <class E>
Err(E) -> Err<E>;

/// Either a value of T or an error of E; must be inspected.
template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT: implicit by design
  Result(Err<E> e) : v_(std::in_place_index<1>, std::move(e.value)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  E error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

/// Result of an operation that yields no value.
template <class E>
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Err<E> e) : err_(e.value), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  E error() const { assert(!ok_); return err_; }

 private:
  E err_{};
  bool ok_ = true;
};

}  // namespace tunstack
