#pragma once
// Lets one sign-in attempt at a time through per client address, and a bounded number of password
// checks in all. The throttle (LoginThrottle) judges an attempt by the failures counted before it:
// attempts sent together would all be judged before any of them failed. And each costs a password
// hash on the one worker thread, so a crowd of them would keep the owner waiting behind them.
// Addresses are keyed as the throttles key them (AddressKey: IPv6 by /64).
// Thread-safety: any thread; a Pass is released on any thread.

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace ap::domain {

class SignInGate {
 public:
  static constexpr size_t kMaxAddresses = 10000;  // attempts in flight, one per address (~1 MB)
  static constexpr size_t kMaxChecks = 16;        // password checks queued or running, of addresses that failed
  explicit SignInGate(size_t max_addresses = kMaxAddresses, size_t max_checks = kMaxChecks)
      : max_addresses_(max_addresses), max_checks_(max_checks) {}

  enum class Verdict { kPassed, kAddressBusy, kFull };
  // While held, the address's attempt (and its password check, once taken) is in flight; released
  // when destroyed.
  class Pass {
   public:
    Pass() = default;
    Pass(Pass&& other) noexcept;
    Pass& operator=(Pass&&) = delete;
    ~Pass();
    Verdict verdict = Verdict::kPassed;
    bool Passed() const { return verdict == Verdict::kPassed; }

   private:
    friend class SignInGate;
    SignInGate* gate_ = nullptr;
    std::string key_;
    bool checking_ = false;
  };

  // kAddressBusy while another attempt from `address` is in flight, kFull while kMaxAddresses are.
  Pass Enter(std::string_view address);
  // Takes one of the password checks for `pass`, from an address that `failed` before
  // (LoginThrottle::Verdict::address_failed): kFull while all are taken (or `pass` did not pass).
  // An address with no failures of its own takes none and is never refused here: the bound falls
  // on the addresses that failed, not on the owner signing in from their usual place.
  Verdict TakeCheck(Pass& pass, bool failed);
  // Gives back `pass`'s password check, if it took one (its address stays in flight).
  void EndCheck(Pass& pass);
  size_t InFlight() const;
  size_t Checking() const;

 private:
  void Leave(const Pass& pass);

  const size_t max_addresses_;
  const size_t max_checks_;
  mutable std::mutex mutex_;
  std::unordered_set<std::string> in_flight_;  // address keys
  size_t checking_ = 0;
};

}  // namespace ap::domain
