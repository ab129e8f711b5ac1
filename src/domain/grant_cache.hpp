#pragma once
// Parsed grants kept in memory so the proxy does not read and parse the store on every call.
// The store stays the truth: every change the API makes goes to the store first, then here, in
// the same call; changes other brokers make arrive through cluster::ChangeFollower; and each
// proxied call is still counted by the store, which refuses a grant that is no longer approved.
// Thread-safety: all methods may be called from any thread.

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
  // Find after Put could see it forgotten in between).
  std::shared_ptr<const Grant> Put(Grant grant);
  // The ids of the grants it holds.
  std::vector<std::string> Ids() const;
  // Drops one grant, or all: the next call reads them from the store again. A call in flight on a
  // grant dropped is ended (RelayHooks::GrantEndedSince): drop only what cannot be read.
  void Forget(const std::string& id);
  void Clear();

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const Grant>> grants_;
};

}  // namespace ap::domain
