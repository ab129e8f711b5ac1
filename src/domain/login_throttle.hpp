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
// This is the rule only; the counts live in the store (store::FlowStore), under SHA-256 of the name
// and address, so every broker on one database counts the same failures. At most kMaxTracked of
// them: when all are live, the counts touched longest ago make room. Nobody is refused because the
// table is full (that would lock the owner out for whoever fills it); an attacker who fills it only
// forgets counts tens of thousands of failures old, which at argon2id's pace is about the window.
// Thread-safety: stateless.

#include <cstdint>
#include <string>
#include <string_view>

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
  static constexpr int64_t kMaxTracked = 100000;

  struct Verdict {
    int64_t wait_seconds = 0;  // > 0: refuse now, try again after this long (429, Retry-After)
    int64_t delay_millis = 0;  // > 0: check the password only after this long
    bool address_failed = false;  // the address has failures of its own (with this account or any)
  };

  // Failures counted under one key within the window (count 0: none).
  struct Failures {
    int64_t count = 0;
    UnixSeconds last = 0;
  };
  // The keys an attempt on `account` from `address` is counted under (SHA-256 hex each).
  struct Keys {
    std::string account;
    std::string address;
    std::string pair;
  };
  static Keys KeysFor(std::string_view account, std::string_view address);

  // What an attempt must do first, given the live counts under its keys at `now`.
  static Verdict Judge(const Failures& account, const Failures& address, const Failures& pair, UnixSeconds now);
};

}  // namespace ap::domain
