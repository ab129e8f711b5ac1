#pragma once
// Counts events per key (a client address, a client id) in fixed windows, for the endpoints where
// outsiders make the broker remember something. Both the count per key and the number of keys are
// bounded: when every slot holds a window that has not ended, a new key is refused rather than an
// old one forgotten (forgetting would hand its owner a fresh allowance). Keys are kept as SHA-256,
// so a long attacker-chosen key costs no more memory than a short one.
// Thread-safety: Take may be called from any thread.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time.hpp"

namespace ap::domain {

struct Admission {
  enum class Verdict { kAllowed, kThrottled, kFull } verdict = Verdict::kAllowed;
  int64_t retry_after = 0;  // seconds until the caller may try again, when not allowed
  bool Allowed() const { return verdict == Verdict::kAllowed; }
};

class KeyedThrottle {
 public:
  KeyedThrottle(int64_t events_per_window, int64_t window_seconds, size_t max_keys)
      : events_per_window_(events_per_window), window_seconds_(window_seconds), max_keys_(max_keys) {}

  // Counts one event for `key` at `now` if its window still has room: kThrottled when the key
  // used its allowance, kFull when the key is new and every slot is taken by a live window.
  Admission Take(std::string_view key, UnixSeconds now);
  size_t Size() const;

 private:
  struct Window {
    UnixSeconds start = 0;
    int64_t count = 0;
  };
  // Drops ended windows; returns when the earliest live one ends.
  UnixSeconds Prune(UnixSeconds now);

  const int64_t events_per_window_;
  const int64_t window_seconds_;
  const size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
  UnixSeconds full_until_ = 0;  // no slot can free up before this: refuse new keys without a scan
};

// How long a slowed credential check waits before it is judged (a sign-in, the owner token): the
// first delay once a count reaches its free allowance, doubled with every `per_doubling` failures
// beyond it, at most the longest.
inline constexpr int64_t kFirstDelayMillis = 1000;
inline constexpr int64_t kLongestDelayMillis = 8000;
int64_t SlowedCheckMillis(int64_t failures_beyond_free, int64_t per_doubling);

// The key a throttle counts a client address under: an IPv6 address by its /64 (what one host or
// one customer is usually given), an IPv4-mapped IPv6 address as the IPv4 address.
std::string AddressKey(std::string_view address);

}  // namespace ap::domain
