#include "domain/login_throttle.hpp"

#include <algorithm>

#include "crypto/hash.hpp"
#include "domain/keyed_throttle.hpp"

namespace ap::domain {

namespace {

int64_t WaitFor(const LoginThrottle::Failures& f, int free_failures, UnixSeconds now) {
  if (f.count < free_failures) return 0;
  int64_t doublings = std::min<int64_t>(f.count - free_failures, 10);
  int64_t wait = std::min(LoginThrottle::kFirstWaitSeconds << doublings, LoginThrottle::kLongestWaitSeconds);
  // Never longer than the wait itself: a clock set back (f.last now in the future) must not lock out.
  return std::clamp<int64_t>(f.last + wait - now, 0, wait);
}

}  // namespace

LoginThrottle::Keys LoginThrottle::KeysFor(std::string_view account, std::string_view address) {
  std::string address_key = AddressKey(address);
  // Lengths are prefixed so that no account name and address can pass for another pair.
  return Keys{
      crypto::Sha256Hex("account:" + std::string(account)), crypto::Sha256Hex("address:" + address_key),
      crypto::Sha256Hex("pair:" + std::to_string(address_key.size()) + ":" + address_key + std::string(account))};
}

LoginThrottle::Verdict LoginThrottle::Judge(const Failures& account, const Failures& address, const Failures& pair,
                                            UnixSeconds now) {
  Verdict verdict;
  verdict.wait_seconds = std::max(WaitFor(pair, kFreePairFailures, now), WaitFor(address, kFreeAddressFailures, now));
  bool address_failed = pair.count > 0 || address.count > 0;
  verdict.address_failed = address_failed;
  if (address_failed && account.count >= kFreeAccountFailures)
    verdict.delay_millis = SlowedCheckMillis(account.count - kFreeAccountFailures, kAccountFailuresPerDoubling);
  return verdict;
}

}  // namespace ap::domain
