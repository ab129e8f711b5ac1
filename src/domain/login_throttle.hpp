#pragma once
// Slows down password guessing without letting the guesser lock the owner out. Failed sign-ins
// are counted per account and address together, per address, and per account:
// - per account and address: after 5 failures within a quarter of an hour, that address must wait
//   30 s before trying that account again, doubled with every further failure, at most 15 minutes;
// - per address: the same after 20 failures on any accounts (a whole office may sit behind one NAT);
// - per account, from every address together: never a refusal, only a slower answer. Once the
//   account has 10 failures in the window, each attempt on it from an address that has failed
//   before waits 1 s before it is checked, doubling with every 10 further failures, at most 8 s.
// An address with no failures of its own is neither refused nor slowed, so the owner signing in
// from their usual place gets in at once however many addresses guess at the account. A success
// clears its account-and-address count.
// Counts live in memory (a restart forgives, which costs an attacker a restart they cannot cause),
// under SHA-256 of the name and address, at most kMaxTracked of them: when all are live, the counts
// touched longest ago make room. Nobody is refused because the table is full (that would lock the
// owner out for whoever fills it); an attacker who fills it only forgets counts tens of thousands of
// failures old, which at argon2id's pace is about the window anyway.
// Thread-safety: all methods may be called from any thread.

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time.hpp"

namespace ap::domain {

class LoginThrottle {
 public:
  static constexpr int kFreePairFailures = 5;
  static constexpr int kFreeAddressFailures = 20;
  static constexpr int kFreeAccountFailures = 10;
  static constexpr int kAccountFailuresPerDoubling = 10;
  static constexpr int64_t kWindowSeconds = 15 * 60;
  static constexpr int64_t kFirstWaitSeconds = 30;
  static constexpr int64_t kLongestWaitSeconds = 15 * 60;
  static constexpr int64_t kFirstDelayMillis = 1000;
  static constexpr int64_t kLongestDelayMillis = 8000;
  static constexpr size_t kMaxTracked = 100000;  // ~15 MB

  struct Verdict {
    int64_t wait_seconds = 0;  // > 0: refuse now, try again after this long (429, Retry-After)
    int64_t delay_millis = 0;  // > 0: check the password only after this long
  };

  // What an attempt on `account` from `address` at `now` must do first.
  Verdict Check(std::string_view account, std::string_view address, UnixSeconds now);
  // How long `account` from `address` must still wait before trying; 0 when it may try now.
  int64_t WaitSeconds(std::string_view account, std::string_view address, UnixSeconds now) {
    return Check(account, address, now).wait_seconds;
  }
  void RecordFailure(std::string_view account, std::string_view address, UnixSeconds now);
  void RecordSuccess(std::string_view account, std::string_view address);

 private:
  struct Failures {
    int count = 0;
    UnixSeconds last = 0;
  };
  // The live count under `key` (0 when none or lapsed, which is then forgotten).
  const Failures* Live(const std::string& key, UnixSeconds now);
  int64_t WaitFor(const std::string& key, int free_failures, UnixSeconds now);
  // Drops lapsed counts, then the ones touched longest ago, until `needed` more fit.
  void MakeRoom(size_t needed, UnixSeconds now);
  void Count(const std::string& key, UnixSeconds now);

  std::mutex mutex_;
  std::unordered_map<std::string, Failures> failures_;
  UnixSeconds pruned_at_ = 0;
};

}  // namespace ap::domain
