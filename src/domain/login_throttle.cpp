#include "domain/login_throttle.hpp"

#include <algorithm>

#include "crypto/hash.hpp"
#include "domain/keyed_throttle.hpp"

namespace ap::domain {

namespace {
// Lengths are prefixed so that no account name and address can pass for another pair.
std::string AccountKey(std::string_view account) { return crypto::Sha256("account:" + std::string(account)); }
std::string AddressKeyOf(std::string_view address) { return crypto::Sha256("address:" + AddressKey(address)); }
std::string PairKey(std::string_view account, std::string_view address) {
  std::string key = AddressKey(address);
  return crypto::Sha256("pair:" + std::to_string(key.size()) + ":" + key + std::string(account));
}
}  // namespace

const LoginThrottle::Failures* LoginThrottle::Live(const std::string& key, UnixSeconds now) {
  auto it = failures_.find(key);
  if (it == failures_.end()) return nullptr;
  if (now - it->second.last > kWindowSeconds) {
    failures_.erase(it);
    return nullptr;
  }
  return &it->second;
}

int64_t LoginThrottle::WaitFor(const std::string& key, int free_failures, UnixSeconds now) {
  const Failures* f = Live(key, now);
  if (!f || f->count < free_failures) return 0;
  int doublings = std::min(f->count - free_failures, 10);
  int64_t wait = std::min(kFirstWaitSeconds << doublings, kLongestWaitSeconds);
  return std::max<int64_t>(0, f->last + wait - now);
}

void LoginThrottle::MakeRoom(size_t needed, UnixSeconds now) {
  if (failures_.size() + needed <= kMaxTracked) return;
  if (now != pruned_at_) {  // at most once a second, whatever the rate of attempts
    std::erase_if(failures_, [now](const auto& entry) { return now - entry.second.last > kWindowSeconds; });
    pruned_at_ = now;
  }
  while (failures_.size() + needed > kMaxTracked) {
    auto oldest = std::min_element(failures_.begin(), failures_.end(),
                                   [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
    failures_.erase(oldest);
  }
}

LoginThrottle::Verdict LoginThrottle::Check(std::string_view account, std::string_view address, UnixSeconds now) {
  std::lock_guard lock(mutex_);
  std::string account_key = AccountKey(account), address_key = AddressKeyOf(address),
              pair_key = PairKey(account, address);
  Verdict verdict;
  verdict.wait_seconds =
      std::max(WaitFor(pair_key, kFreePairFailures, now), WaitFor(address_key, kFreeAddressFailures, now));
  const Failures* on_account = Live(account_key, now);
  bool address_failed = Live(pair_key, now) || Live(address_key, now);
  if (on_account && address_failed && on_account->count >= kFreeAccountFailures) {
    int doublings = std::min((on_account->count - kFreeAccountFailures) / kAccountFailuresPerDoubling, 10);
    verdict.delay_millis = std::min(kFirstDelayMillis << doublings, kLongestDelayMillis);
  }
  return verdict;
}

void LoginThrottle::Count(const std::string& key, UnixSeconds now) {
  Failures& f = failures_[key];
  if (now - f.last > kWindowSeconds) f.count = 0;
  ++f.count;
  f.last = now;
}

void LoginThrottle::RecordFailure(std::string_view account, std::string_view address, UnixSeconds now) {
  std::lock_guard lock(mutex_);
  std::string keys[] = {AccountKey(account), AddressKeyOf(address), PairKey(account, address)};
  MakeRoom(static_cast<size_t>(std::count_if(std::begin(keys), std::end(keys),
                                             [&](const std::string& k) { return !failures_.contains(k); })),
           now);
  for (const std::string& key : keys) Count(key, now);
}

void LoginThrottle::RecordSuccess(std::string_view account, std::string_view address) {
  std::lock_guard lock(mutex_);
  failures_.erase(PairKey(account, address));
}

}  // namespace ap::domain
