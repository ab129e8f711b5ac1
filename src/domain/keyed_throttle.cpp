#include "domain/keyed_throttle.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <limits>

#include "crypto/hash.hpp"

namespace ap::domain {

UnixSeconds KeyedThrottle::Prune(UnixSeconds now) {
  UnixSeconds earliest_end = std::numeric_limits<UnixSeconds>::max();
  std::erase_if(windows_, [&](const auto& entry) {
    UnixSeconds end = entry.second.start + window_seconds_;
    if (end <= now) return true;
    earliest_end = std::min(earliest_end, end);
    return false;
  });
  return earliest_end;
}

Admission KeyedThrottle::Take(std::string_view key, UnixSeconds now) {
  std::string digest = crypto::Sha256(key);
  std::lock_guard lock(mutex_);
  auto it = windows_.find(digest);
  if (it == windows_.end()) {
    if (windows_.size() >= max_keys_) {
      if (now < full_until_) return {Admission::Verdict::kFull, full_until_ - now};
      UnixSeconds earliest_end = Prune(now);
      if (windows_.size() >= max_keys_) {
        full_until_ = earliest_end;
        return {Admission::Verdict::kFull, std::max<int64_t>(1, earliest_end - now)};
      }
    }
    windows_.emplace(std::move(digest), Window{now, 1});
    return {};
  }
  Window& w = it->second;
  if (now >= w.start + window_seconds_) w = Window{now, 0};
  if (w.count >= events_per_window_)
    return {Admission::Verdict::kThrottled, std::max<int64_t>(1, w.start + window_seconds_ - now)};
  ++w.count;
  return {};
}

size_t KeyedThrottle::Size() const {
  std::lock_guard lock(mutex_);
  return windows_.size();
}

int64_t SlowedCheckMillis(int64_t failures_beyond_free, int64_t per_doubling) {
  int64_t doublings = std::clamp<int64_t>(failures_beyond_free / per_doubling, 0, 3);  // 8 s is 1 s doubled thrice
  return std::min(kFirstDelayMillis << doublings, kLongestDelayMillis);
}

std::string AddressKey(std::string_view address) {
  std::string text(address);
  std::array<unsigned char, 16> v6{};
  if (inet_pton(AF_INET6, text.c_str(), v6.data()) != 1) return text;
  constexpr std::array<unsigned char, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char out[INET6_ADDRSTRLEN] = {};
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), v6.begin())) {
    inet_ntop(AF_INET, v6.data() + 12, out, sizeof out);
    return out;
  }
  std::fill(v6.begin() + 8, v6.end(), 0);
  inet_ntop(AF_INET6, v6.data(), out, sizeof out);
  return std::string(out) + "/64";
}

}  // namespace ap::domain
