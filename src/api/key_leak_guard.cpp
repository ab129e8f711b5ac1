#include "api/key_leak_guard.hpp"

namespace ap::api {

bool KeyLeakGuard::Quoted(const std::string& root_id, int answers) {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(root_id);
  if (it == counts_.end()) {
    if (counts_.size() >= kMaxGrants) return true;  // cannot count it: err on the side of the key
    it = counts_.emplace(root_id, 0).first;
  }
  it->second += answers;
  if (it->second < kMaxQuotedAnswers) return false;
  counts_.erase(it);  // the grant is revoked now: its count has done its job
  return true;
}

}  // namespace ap::api
