#pragma once
// Copies one deployment's database into another, empty one (`aipassport db copy`): a SQLite
// deployment moving up to PostgreSQL. Blocks on I/O; run it with the brokers stopped.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/open_store.hpp"

namespace ap::store {

struct CopiedTable {
  std::string name;
  int64_t rows = 0;  // counted in both databases after the copy, and equal
};

// Copies every table the broker keeps, in one transaction on the target, from a read snapshot of
// the source. Both are migrated to this aipassport's schema first. Leases the source still holds
// (its brokers did not stop cleanly) are copied as lost spend, as a broker would count them. Fails,
// copying nothing, when the target already holds data, or when a broker heartbeat in the source is
// under 10 minutes old by its clock (a broker still running there would spend on after the
// snapshot, unseen by the copy; checked before the source is migrated); `progress` hears each
// table as it goes.
Result<std::vector<CopiedTable>> CopyDatabase(const DatabaseTarget& from, const DatabaseTarget& to,
                                              const std::function<void(const std::string& table)>& progress);

}  // namespace ap::store
