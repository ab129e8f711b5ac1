#include "domain/credential_throttle.hpp"

#include <algorithm>
#include <utility>

#include "crypto/hash.hpp"
#include "domain/keyed_throttle.hpp"

namespace ap::domain {

namespace {

constexpr std::string_view kUntracked = "";  // the entry of every address not tracked while the table is full

int64_t DelayFor(int64_t failures) {
  int64_t beyond = std::max<int64_t>(0, failures - CredentialThrottle::kFreeFailures);
  int64_t doublings = std::min<int64_t>(beyond / CredentialThrottle::kFailuresPerDoubling, 3);
  return std::min(CredentialThrottle::kFirstDelayMillis << doublings, CredentialThrottle::kLongestDelayMillis);
}

}  // namespace

CredentialThrottle::Attempt::Attempt(Attempt&& other) noexcept
    : retry_after_seconds(other.retry_after_seconds),
      delay_millis(other.delay_millis),
      throttle_(std::exchange(other.throttle_, nullptr)),
      key_(std::move(other.key_)),
      delayed_(other.delayed_) {}

CredentialThrottle::Attempt::~Attempt() {
  if (throttle_) throttle_->End(*this, false);
}

void CredentialThrottle::Attempt::Failed() {
  if (throttle_) std::exchange(throttle_, nullptr)->End(*this, true);
}

std::pair<std::string, CredentialThrottle::Address*> CredentialThrottle::EntryFor(std::string key, int64_t now) {
  if (auto it = addresses_.find(key); it != addresses_.end()) return {std::move(key), &it->second};
  if (addresses_.size() >= max_addresses_)
    std::erase_if(addresses_, [&](const auto& entry) {
      const Address& a = entry.second;
      return a.in_flight == 0 && !a.delayed && now >= a.window_start + kWindowSeconds;
    });
  if (addresses_.size() >= max_addresses_) key = std::string(kUntracked);
  return {key, &addresses_[key]};
}

CredentialThrottle::Attempt CredentialThrottle::Begin(std::string_view address, int64_t now) {
  std::lock_guard lock(mutex_);
  now_ = std::max(now_, now);
  auto [key, entry] = EntryFor(crypto::Sha256(AddressKey(address)), now_);
  Address& a = *entry;
  if (now_ >= a.window_start + kWindowSeconds) a.failures = 0;
  bool untracked = key == kUntracked;
  bool free = !untracked && a.failures < kFreeFailures && a.in_flight < kFreeInFlight;
  Attempt attempt;
  if (!free && a.delayed) {
    attempt.retry_after_seconds = (DelayFor(a.failures) + 999) / 1000;  // about when the running one ends
    return attempt;
  }
  attempt.throttle_ = this;
  attempt.key_ = std::move(key);
  attempt.delayed_ = !free;
  attempt.delay_millis = free ? 0 : DelayFor(a.failures);
  if (free)
    ++a.in_flight;
  else
    a.delayed = true;
  return attempt;
}

void CredentialThrottle::End(const Attempt& attempt, bool failed) {
  std::lock_guard lock(mutex_);
  auto it = addresses_.find(attempt.key_);
  if (it == addresses_.end()) return;
  Address& a = it->second;
  if (attempt.delayed_)
    a.delayed = false;
  else
    --a.in_flight;
  if (failed) {
    if (now_ >= a.window_start + kWindowSeconds) a = Address{now_, 0, a.in_flight, a.delayed};
    ++a.failures;
  }
  if (a.failures == 0 && a.in_flight == 0 && !a.delayed) addresses_.erase(it);
}

size_t CredentialThrottle::Tracked() const {
  std::lock_guard lock(mutex_);
  return addresses_.size();
}

}  // namespace ap::domain
