#include "domain/grant_cache.hpp"

#include <mutex>

namespace ap::domain {

std::shared_ptr<const Grant> GrantCache::Find(const std::string& id) const {
  std::shared_lock lock(mutex_);
  auto it = grants_.find(id);
  return it == grants_.end() ? nullptr : it->second;
}

void GrantCache::Put(Grant grant) {
  auto entry = std::make_shared<const Grant>(std::move(grant));
  std::unique_lock lock(mutex_);
  grants_[entry->record.id] = std::move(entry);
}

void GrantCache::Erase(const std::string& id) {
  std::unique_lock lock(mutex_);
  grants_.erase(id);
}

size_t GrantCache::Size() const {
  std::shared_lock lock(mutex_);
  return grants_.size();
}

}  // namespace ap::domain
