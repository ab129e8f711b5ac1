#include "domain/grant_cache.hpp"

#include <mutex>

namespace ap::domain {

std::shared_ptr<const Grant> GrantCache::Find(const std::string& id) const {
  std::shared_lock lock(mutex_);
  auto it = grants_.find(id);
  return it == grants_.end() ? nullptr : it->second;
}

std::shared_ptr<const Grant> GrantCache::Put(Grant grant) {
  auto entry = std::make_shared<const Grant>(std::move(grant));
  std::unique_lock lock(mutex_);
  auto& slot = grants_[entry->record.id];
  if (!slot || slot->record.version <= entry->record.version) slot = std::move(entry);
  return slot;
}

std::vector<std::string> GrantCache::Ids() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> ids;
  ids.reserve(grants_.size());
  for (const auto& [id, grant] : grants_) ids.push_back(id);
  return ids;
}

void GrantCache::Forget(const std::string& id) {
  std::unique_lock lock(mutex_);
  grants_.erase(id);
}

void GrantCache::Clear() {
  std::unique_lock lock(mutex_);
  grants_.clear();
}

}  // namespace ap::domain
