#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace obsgate::core {

// An error a person can read: what went wrong and, where possible, what to do.
struct Error {
  std::string message;
};

// The value of an operation on untrusted input, or why there is none. Never throws.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  std::variant<T, Error> v_;
};

// For operations that produce nothing but may fail.
struct Ok {};
using Status = Result<Ok>;

// A factory's result as its interface: Result<unique_ptr<SlackNotifier>> -> Result<unique_ptr<
// Notifier>>.
template <typename Base, typename T>
Result<std::unique_ptr<Base>> Upcast(Result<std::unique_ptr<T>> r) {
  if (!r) return Error{r.error()};
  return std::unique_ptr<Base>(std::move(r).value());
}

}  // namespace obsgate::core
