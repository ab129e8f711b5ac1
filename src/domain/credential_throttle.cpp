#include "domain/credential_throttle.hpp"

#include <algorithm>
#include <utility>

#include "crypto/hash.hpp"
#include "domain/keyed_throttle.hpp"

namespace ap::domain {

namespace {

constexpr std::string_view kUntracked = "";  // the entry of every address not tracked while the table is full

int64_t DelayFor(int64_t failures) {
  return SlowedCheckMillis(failures - CredentialThrottle::kFreeFailures, CredentialThrottle::kFailuresPerDoubling);
}

}  // namespace

CredentialThrottle::Attempt::Attempt(Attempt&& other) noexcept
    : retry_after_seconds(other.retry_after_seconds),
      delay_millis(other.delay_millis),
      throttle_(std::exchange(other.throttle_, nullptr)),
      key_(std::move(other.key_)),
      gated_(other.gated_) {}

CredentialThrottle::Attempt::~Attempt() {
  if (throttle_) throttle_->End(*this, false);
}

void CredentialThrottle::Attempt::Failed() {
  if (throttle_) std::exchange(throttle_, nullptr)->End(*this, true);
}

std::pair<std::string, CredentialThrottle::Address*> CredentialThrottle::EntryFor(std::string key) {
  if (auto it = addresses_.find(key); it != addresses_.end()) return {std::move(key), &it->second};
  if (addresses_.size() >= max_addresses_ && now_ >= next_scan_) {  // a scan a second at most
    std::erase_if(addresses_, [&](const auto& entry) {
      const Address& a = entry.second;
      return a.in_flight == 0 && !a.gated && now_ >= a.window_start + kWindowSeconds;
    });
    next_scan_ = now_ + 1;
  }
  if (addresses_.size() >= max_addresses_) key = std::string(kUntracked);
  auto [it, made] = addresses_.try_emplace(key);
  if (made) it->second.window_start = now_;
  return {key, &it->second};
}

CredentialThrottle::Attempt CredentialThrottle::Begin(std::string_view address, int64_t now) {
  std::lock_guard lock(mutex_);
  now_ = std::max(now_, now);
  auto [key, entry] = EntryFor(crypto::Sha256(AddressKey(address)));
  Address& a = *entry;
  if (now_ >= a.window_start + kWindowSeconds) a.failures = 0;
  // Past its free failures (or untracked), an address is slowed and checked one at a time; with
  // many checks in flight and no failures, it is slowed only.
  bool gated = key == kUntracked || a.failures >= kFreeFailures;
  Attempt attempt;
  if (gated && a.gated) {
    attempt.retry_after_seconds = (DelayFor(a.failures) + 999) / 1000;  // about when the running one ends
    return attempt;
  }
  attempt.throttle_ = this;
  attempt.key_ = std::move(key);
  attempt.gated_ = gated;
  if (gated) {
    a.gated = true;
    attempt.delay_millis = DelayFor(a.failures);
  } else {
    attempt.delay_millis = a.in_flight >= kFreeInFlight ? kFirstDelayMillis : 0;
    ++a.in_flight;
  }
  return attempt;
}

void CredentialThrottle::End(const Attempt& attempt, bool failed) {
  std::lock_guard lock(mutex_);
  auto it = addresses_.find(attempt.key_);
  if (it == addresses_.end()) return;
  Address& a = it->second;
  if (attempt.gated_)
    a.gated = false;
  else
    --a.in_flight;
  if (failed) {
    if (a.failures == 0 || now_ >= a.window_start + kWindowSeconds) {  // a window starts with its first failure
      a.window_start = now_;
      a.failures = 0;
    }
    ++a.failures;
  }
  if (a.failures == 0 && a.in_flight == 0 && !a.gated) addresses_.erase(it);
}

size_t CredentialThrottle::Tracked() const {
  std::lock_guard lock(mutex_);
  return addresses_.size();
}

}  // namespace ap::domain
