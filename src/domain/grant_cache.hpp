#pragma once
// Parsed grants kept in memory so the proxy does not read and parse the store on every call.
// The store stays the truth: every change the API makes goes to the store first, then here, in
// the same call; changes other brokers make arrive through cluster::ChangeFollower; and each
// proxied call is still counted by the store, which refuses a grant that is no longer approved.
// Thread-safety: all methods may be called from any thread.

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/grant.hpp"

namespace ap::domain {

class GrantCache {
 public:
  std::shared_ptr<const Grant> Find(const std::string& id) const;
  // Keeps whichever of the cached and the given grant has the higher version, so a slow reader
  // cannot put back a grant that a revocation has already replaced; returns the one kept (a
  // Find after Put could see it forgotten in between). A grant cached before the last NewTimeline
  // is replaced whatever its version.
  std::shared_ptr<const Grant> Put(Grant grant);
  // The database went back (restored from a backup, or failed over to a replica behind it), and
  // the grants' versions with it: what is cached now was read from a history the database no
  // longer holds, and each grant put from now on replaces it, even at a lower version.
  void NewTimeline();
  // The ids of the grants it holds.
  std::vector<std::string> Ids() const;
  // Drops one grant, or all: the next call reads them from the store again. A call in flight on a
  // grant dropped is ended (RelayHooks::GrantEndedSince): drop only what cannot be read.
  void Forget(const std::string& id);
  void Clear();

 private:
  struct Slot {
    std::shared_ptr<const Grant> grant;
    uint64_t timeline = 0;  // when it was put
  };
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, Slot> grants_;
  uint64_t timeline_ = 0;
};

}  // namespace ap::domain
