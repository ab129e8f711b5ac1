#pragma once
// Lets one sign-in attempt at a time through per client address, and a bounded number in all. The
// throttle (LoginThrottle) judges an attempt by the failures counted before it: attempts sent
// together would all be judged before any of them failed, and each costs a password hash on the
// one worker thread, so a crowd of them would both get past the throttle and keep the owner
// waiting behind them. Addresses are keyed as the throttles key them (AddressKey: IPv6 by /64).
// Thread-safety: Enter may be called from any thread; a Pass is released on any thread.

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace ap::domain {

class SignInGate {
 public:
  static constexpr size_t kMaxInFlight = 16;
  explicit SignInGate(size_t max_in_flight = kMaxInFlight) : max_in_flight_(max_in_flight) {}

  enum class Verdict { kPassed, kAddressBusy, kFull };
  // While held, the address's attempt is in flight; released when destroyed.
  class Pass {
   public:
    Pass() = default;
    Pass(Pass&& other) noexcept : gate_(other.gate_), key_(std::move(other.key_)) { other.gate_ = nullptr; }
    Pass& operator=(Pass&&) = delete;
    ~Pass();
    Verdict verdict = Verdict::kPassed;
    bool Passed() const { return verdict == Verdict::kPassed; }

   private:
    friend class SignInGate;
    SignInGate* gate_ = nullptr;
    std::string key_;
  };

  // kAddressBusy while another attempt from `address` is in flight, kFull while the most are.
  Pass Enter(std::string_view address);
  size_t InFlight() const;

 private:
  void Leave(const std::string& key);

  const size_t max_in_flight_;
  mutable std::mutex mutex_;
  std::unordered_set<std::string> in_flight_;  // address keys
};

}  // namespace ap::domain
