#pragma once
// Keeps this broker's grant cache in step with what other brokers (and the CLI) change in the
// shared database: it reads the change feed (store/change_store.hpp) and reloads each grant that
// changed, so a revocation made on any node refuses the next call on this one. Kinds it does not
// cache itself (the signing key ring, the vault's keys) go to the hooks registered for them.
// Thread-safety: Start, Poll and the hooks run on the store thread, one at a time.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "domain/grant_cache.hpp"
#include "store/store.hpp"

namespace ap::cluster {

class ChangeFollower {
 public:
  // How long changes are kept: a broker paused longer than this reads its whole cache again instead.
  static constexpr int64_t kKeepSeconds = 3600;

  // The boot clock (CLOCK_BOOTTIME) in nanoseconds: monotonic, and going on while the machine is suspended.
  static int64_t BootNanos();

  // `clock` times how far behind the feed this broker is: BootNanos, or a test's.
  ChangeFollower(store::Store& store, domain::GrantCache& grants, int64_t (*clock)() = BootNanos)
      : store_(store), grants_(grants), clock_(clock) {}

  // Runs `hook` once per Poll that read one or more changes of `kind`, after applying them; also
  // after changes were missed (pruned), since any of them may have been of that kind. Register
  // hooks before the first Poll.
  void OnChange(std::string kind, std::function<void()> hook) { hooks_[std::move(kind)] = std::move(hook); }
  // Runs `hook` with each changed grant's id before the cache sees the change, and with an empty
  // id after changes were missed (any grant may have changed). Register it before the first Poll.
  void OnGrantChange(std::function<void(std::string_view id)> hook) { on_grant_ = std::move(hook); }
  // Starts after the newest change. Call it before the cache is first filled.
  Status Start();
  // Applies the changes made since the last call; returns how many it applied.
  Result<int64_t> Poll();
  // Whether the last successful Start or Poll is at most `age` old. A broker that cannot read the
  // feed cannot know of a revocation made elsewhere; any thread may ask. The age is counted on the
  // boot clock, which goes on while the machine is suspended, as it does while the process is
  // stopped.
  bool CaughtUpWithin(std::chrono::milliseconds age) const { return Behind() <= age; }
  // How long ago the last successful Start or Poll was, on that clock.
  std::chrono::nanoseconds Behind() const;

 private:
  Status Apply(const store::ChangeRecord& change);
  // Caches `record`'s grant, or forgets it if it does not parse.
  void Keep(store::GrantRecord record);
  Status ReloadCached();

  store::Store& store_;
  domain::GrantCache& grants_;
  int64_t (*const clock_)();
  // The last change read (at Start, the newest one).
  store::ChangeRecord last_;
  std::atomic<int64_t> caught_up_at_{0};  // on clock_, nanoseconds
  int64_t polls_ = 0;
  bool reload_pending_ = false;  // changes were missed, and the cache is not read again yet
  std::map<std::string, std::function<void()>, std::less<>> hooks_;
  std::function<void(std::string_view)> on_grant_;
};

}  // namespace ap::cluster
