#pragma once
// Slows down guessing of the owner credential (the owner token, or AIPASSPORT_ADMIN_TOKEN) per client
// address, without refusing the right one from an address that did not guess. An address is free
// while it has fewer than kFreeFailures wrong credentials in its window (15 minutes from its first
// failure). Past that, each attempt from it waits before it is checked, 1 s, doubling with every
// kFailuresPerDoubling further failures, at most 8 s, and only one such attempt runs at a time:
// another is refused (429) until it ends. So an address gets kFreeFailures guesses and then about
// one a second, or fewer, until its window ends; the right credential from it is slowed too, and
// refused while a slowed check runs. A free address with kFreeInFlight checks running at once (a
// burst of guesses sent together counts before any of them is judged) has its further ones wait
// 1 s, never refused. A success clears nothing: the owner sharing an address with a guesser must
// not hand them a fresh allowance.
// At most kMaxAddresses are tracked (~1 MB); while that many have live counts, the addresses not
// tracked share one entry, slowed and one at a time (then a caller from a new address may be refused).
// Addresses are keyed as the throttles key them (AddressKey: IPv6 by /64). Counts are this
// broker's; several brokers each count their own.
// Thread-safety: any thread; an Attempt ends on any thread.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace ap::domain {

class CredentialThrottle {
 public:
  static constexpr int64_t kFreeFailures = 20;
  static constexpr int64_t kFreeInFlight = 64;
  static constexpr int64_t kFailuresPerDoubling = 10;
  static constexpr int64_t kWindowSeconds = 15 * 60;
  static constexpr size_t kMaxAddresses = 10000;

  explicit CredentialThrottle(size_t max_addresses = kMaxAddresses) : max_addresses_(max_addresses) {}

  // One credential check from an address, from Begin to its destruction.
  class Attempt {
   public:
    Attempt() = default;
    Attempt(Attempt&& other) noexcept;
    Attempt& operator=(Attempt&&) = delete;
    ~Attempt();
    // > 0: refused, try again after this many seconds (429, Retry-After).
    int64_t retry_after_seconds = 0;
    // > 0: check the credential only after this long.
    int64_t delay_millis = 0;
    bool Refused() const { return retry_after_seconds > 0; }
    // The credential was wrong: counted against the address.
    void Failed();

   private:
    friend class CredentialThrottle;
    CredentialThrottle* throttle_ = nullptr;
    std::string key_;
    bool gated_ = false;  // holds its address's one slowed check
  };

  // Judges an attempt from `address` at `now` (seconds on a monotonic clock).
  Attempt Begin(std::string_view address, int64_t now);
  // The addresses with failures or checks in flight now (and the shared entry, if in use).
  size_t Tracked() const;

 private:
  struct Address {
    int64_t window_start = 0;
    int64_t failures = 0;
    int64_t in_flight = 0;  // attempts of a free address checked at once
    bool gated = false;     // its one slowed check is running
  };
  // The entry `key` is counted under: its own, or the shared one for untracked addresses while
  // the table is full. Under the lock.
  std::pair<std::string, Address*> EntryFor(std::string key);
  void End(const Attempt& attempt, bool failed);

  const size_t max_addresses_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Address> addresses_;
  int64_t now_ = 0;        // the last `now` seen: End counts windows by it
  int64_t next_scan_ = 0;  // a full table is scanned for ended windows once a second at most
};

}  // namespace ap::domain
