#pragma once
// Grants whose provider answers keep quoting their key. A provider that echoes what an app sent (a
// model repeating its prompt, an error quoting a bad parameter) lets the app test guesses of the
// key run by run: a right guess comes back redacted. So after kMaxQuotedAnswers such answers the
// grant is revoked (RevokeIfQuoting in grant_changes.hpp), and the audit trail says why. Answers
// are counted against the grant an owner approved, for its whole delegation tree: each child spends
// the same key, and a child revoked alone would be replaced by exchanging again. The count
// is this broker's: behind a balancer of N brokers an app gets up to N x (limit - 1) quoted answers
// before one of them revokes. A grant is forgotten once revoked, so the table holds only grants
// below the limit (each one an owner approved).
// Thread-safety: every method may be called from any thread.

#include <mutex>
#include <string>
#include <unordered_map>

namespace ap::api {

class KeyLeakGuard {
 public:
  static constexpr int kMaxQuotedAnswers = 3;
  static constexpr size_t kMaxGrants = 100'000;  // counted at once; past it a quote revokes at once
  // Counts `answers` more answers that quoted the key of `root_id`'s tree; true once it reaches the limit.
  bool Quoted(const std::string& root_id, int answers);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, int> counts_;
};

}  // namespace ap::api
