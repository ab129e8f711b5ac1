#include "domain/grant_cache.hpp"

#include <mutex>

namespace ap::domain {

std::shared_ptr<const Grant> GrantCache::Find(const std::string& id) const {
  std::shared_lock lock(mutex_);
  auto it = grants_.find(id);
  return it == grants_.end() ? nullptr : it->second.grant;
}

std::shared_ptr<const Grant> GrantCache::Put(Grant grant) {
  auto entry = std::make_shared<const Grant>(std::move(grant));
  std::unique_lock lock(mutex_);
  Slot& slot = grants_[entry->record.id];
  if (!slot.grant || slot.timeline != timeline_ || slot.grant->record.version <= entry->record.version)
    slot = Slot{std::move(entry), timeline_};
  return slot.grant;
}

void GrantCache::NewTimeline() {
  std::unique_lock lock(mutex_);
  ++timeline_;
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
