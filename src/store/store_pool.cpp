#include "store/store_pool.hpp"

namespace ap::store {

Result<std::unique_ptr<Store>> StorePool::Take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto store = std::move(idle_.back());
      idle_.pop_back();
      return store;
    }
  }
  return OpenStore(target_);
}

void StorePool::GiveBack(std::unique_ptr<Store> store) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(store));
}

}  // namespace ap::store
