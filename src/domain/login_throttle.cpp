#include "domain/login_throttle.hpp"

#include <algorithm>

namespace ap::domain {

namespace {
constexpr size_t kMaxTracked = 100000;  // beyond this, forgotten failures make room
}

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

int64_t LoginThrottle::WaitSeconds(std::string_view account, std::string_view address, UnixSeconds now) {
  std::lock_guard lock(mutex_);
  return std::max(WaitFor("account:" + std::string(account), kFreeAccountFailures, now),
                  WaitFor("address:" + std::string(address), kFreeAddressFailures, now));
}

void LoginThrottle::Count(const std::string& key, UnixSeconds now) {
  if (failures_.size() >= kMaxTracked)
    std::erase_if(failures_, [now](const auto& entry) { return now - entry.second.last > kWindowSeconds; });
  Failures& f = failures_[key];
  if (now - f.last > kWindowSeconds) f.count = 0;
  ++f.count;
  f.last = now;
}

void LoginThrottle::RecordFailure(std::string_view account, std::string_view address, UnixSeconds now) {
  std::lock_guard lock(mutex_);
  Count("account:" + std::string(account), now);
  Count("address:" + std::string(address), now);
}

void LoginThrottle::RecordSuccess(std::string_view account) {
  std::lock_guard lock(mutex_);
  failures_.erase("account:" + std::string(account));
}

}  // namespace ap::domain
