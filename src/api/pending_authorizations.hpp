#pragma once
// OAuth authorization requests waiting for the owner on the consent screen, by grant id. They live
// in memory for ten minutes: a restart only makes the owner start the sign-in from the app again.
// At most kMaxPending at once: lapsed ones make room, live ones are never dropped to make room.
// Thread-safety: all methods may be called from any thread.

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/time.hpp"

namespace ap::api {

struct PendingAuthorization {
  std::string client_id;
  std::string redirect_uri;
  std::string state;
  std::string code_challenge;
  int64_t lifetime_seconds = 3600;
  UnixSeconds expires_at = 0;
};

class PendingAuthorizations {
 public:
  static constexpr int64_t kLifetimeSeconds = 600;
  static constexpr size_t kMaxPending = 1000;

  // Keeps a new request; false when kMaxPending live ones already wait (the caller answers 503).
  bool Put(const std::string& grant_id, PendingAuthorization pending) {
    std::lock_guard lock(mutex_);
    std::erase_if(pending_, [&](const auto& e) { return e.second.expires_at < pending.expires_at - kLifetimeSeconds; });
    if (pending_.size() >= kMaxPending) return false;
    pending_[grant_id] = std::move(pending);
    return true;
  }
  // Removes and returns the request for `grant_id`, if it has not lapsed.
  std::optional<PendingAuthorization> Take(const std::string& grant_id, UnixSeconds now) {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(grant_id);
    if (it == pending_.end()) return std::nullopt;
    PendingAuthorization p = std::move(it->second);
    pending_.erase(it);
    if (p.expires_at < now) return std::nullopt;
    return p;
  }
  // The request waiting for `grant_id`, left in place.
  std::optional<PendingAuthorization> Find(const std::string& grant_id) {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(grant_id);
    if (it == pending_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, PendingAuthorization> pending_;
};

}  // namespace ap::api
