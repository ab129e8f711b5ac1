#pragma once
// Slows down password guessing: failed sign-ins are counted per account and per client address.
// The first failures within a quarter of an hour cost nothing (5 for an account, 20 for an address,
// which may be a whole office behind one NAT); after that each attempt must wait 30 s, doubled with
// every further failure, at most 15 minutes. A success clears the account.
// Counts live in memory (a restart forgives, which costs an attacker a restart they cannot cause),
// under SHA-256 of the name or address, at most kMaxTracked of them: a count inside its window is
// never dropped to make room; while all are live, names and addresses not yet counted must wait.
// Thread-safety: all methods may be called from any thread.

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time.hpp"

namespace ap::domain {

class LoginThrottle {
 public:
  static constexpr int kFreeAccountFailures = 5;
  static constexpr int kFreeAddressFailures = 20;
  static constexpr int64_t kWindowSeconds = 15 * 60;
  static constexpr int64_t kFirstWaitSeconds = 30;
  static constexpr int64_t kLongestWaitSeconds = 15 * 60;
  static constexpr size_t kMaxTracked = 100000;  // ~15 MB
  static constexpr int64_t kFullWaitSeconds = 60;

  // How long `account` from `address` must still wait before trying; 0 when it may try now.
  int64_t WaitSeconds(std::string_view account, std::string_view address, UnixSeconds now);
  void RecordFailure(std::string_view account, std::string_view address, UnixSeconds now);
  void RecordSuccess(std::string_view account);

 private:
  struct Failures {
    int count = 0;
    UnixSeconds last = 0;
  };
  int64_t WaitFor(const std::string& key, int free_failures, UnixSeconds now);
  bool HasRoom(const std::string& account_key, const std::string& address_key, UnixSeconds now);
  void Count(const std::string& key, UnixSeconds now);

  std::mutex mutex_;
  std::unordered_map<std::string, Failures> failures_;
  UnixSeconds pruned_at_ = 0;
};

}  // namespace ap::domain
