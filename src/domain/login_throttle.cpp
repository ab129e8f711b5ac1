#include "domain/login_throttle.hpp"

#include <algorithm>

#include "crypto/hash.hpp"
#include "domain/keyed_throttle.hpp"

namespace ap::domain {

namespace {
std::string AccountKey(std::string_view account) { return crypto::Sha256("account:" + std::string(account)); }
std::string AddressKeyOf(std::string_view address) { return crypto::Sha256("address:" + AddressKey(address)); }
}  // namespace

int64_t LoginThrottle::WaitFor(const std::string& key, int free_failures, UnixSeconds now) {
  auto it = failures_.find(key);
  if (it == failures_.end()) return 0;
  const Failures& f = it->second;
  if (now - f.last > kWindowSeconds) {
    failures_.erase(it);
    return 0;
  }
  if (f.count < free_failures) return 0;
  int doublings = std::min(f.count - free_failures, 10);
  int64_t wait = std::min(kFirstWaitSeconds << doublings, kLongestWaitSeconds);
  return std::max<int64_t>(0, f.last + wait - now);
}

bool LoginThrottle::HasRoom(const std::string& account_key, const std::string& address_key, UnixSeconds now) {
  auto missing = [&] { return size_t{!failures_.contains(account_key)} + size_t{!failures_.contains(address_key)}; };
  if (failures_.size() + missing() <= kMaxTracked) return true;
  if (now != pruned_at_) {  // at most once a second, whatever the rate of attempts
    std::erase_if(failures_, [now](const auto& entry) { return now - entry.second.last > kWindowSeconds; });
    pruned_at_ = now;
  }
  return failures_.size() + missing() <= kMaxTracked;
}

int64_t LoginThrottle::WaitSeconds(std::string_view account, std::string_view address, UnixSeconds now) {
  std::lock_guard lock(mutex_);
  std::string account_key = AccountKey(account), address_key = AddressKeyOf(address);
  int64_t wait =
      std::max(WaitFor(account_key, kFreeAccountFailures, now), WaitFor(address_key, kFreeAddressFailures, now));
  if (wait == 0 && !HasRoom(account_key, address_key, now)) return kFullWaitSeconds;
  return wait;
}

void LoginThrottle::Count(const std::string& key, UnixSeconds now) {
  Failures& f = failures_[key];
  if (now - f.last > kWindowSeconds) f.count = 0;
  ++f.count;
  f.last = now;
}

void LoginThrottle::RecordFailure(std::string_view account, std::string_view address, UnixSeconds now) {
  std::lock_guard lock(mutex_);
  Count(AccountKey(account), now);
  Count(AddressKeyOf(address), now);
}

void LoginThrottle::RecordSuccess(std::string_view account) {
  std::lock_guard lock(mutex_);
  failures_.erase(AccountKey(account));
}

}  // namespace ap::domain
