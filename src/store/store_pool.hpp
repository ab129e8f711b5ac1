#pragma once
// Stores on connections of their own, for store work that may run beside the store thread's (the
// owner's long reads), so it never holds up the calls' limits. A connection is opened when first
// needed, so a broker holds only as many as it has used at once.
// Thread-safety: Run may be called from any thread; each store serves one job at a time.

#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "store/open_store.hpp"

namespace ap::store {

class StorePool {
 public:
  explicit StorePool(DatabaseTarget target) : target_(std::move(target)) {}

  // Runs `fn(Store&)` on a store no other job is using. `fn` returns a Result, which carries the
  // error when no store can be opened.
  template <class Fn>
  auto Run(Fn& fn) -> std::invoke_result_t<Fn&, Store&> {
    auto store = Take();
    if (!store) return store.error();
    Lent lent{*this, std::move(*store)};
    return fn(*lent.store);
  }

 private:
  struct Lent {
    StorePool& pool;
    std::unique_ptr<Store> store;
    ~Lent() { pool.GiveBack(std::move(store)); }
  };
  Result<std::unique_ptr<Store>> Take();
  void GiveBack(std::unique_ptr<Store> store);

  DatabaseTarget target_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Store>> idle_;
};

}  // namespace ap::store
