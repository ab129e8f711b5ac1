#pragma once
// The MeteringStore on SQL (SQLite or PostgreSQL): the leases, usage, nodes and events tables.
// Thread-safety: one thread at a time (the store worker).

#include <map>
#include <string>

#include "store/metering_store.hpp"
#include "store/sql/connection.hpp"
#include "store/tables/grant_tables.hpp"

namespace ap::store::tables {

using sql::Connection;
using sql::Query;

class MeteringTables final : public MeteringStore {
 public:
  // Leases are cut from what `grants` say is left.
  MeteringTables(Connection& db, GrantTables& grants) : db_(db), grants_(grants) {}

  Result<Lease> TakeLease(std::string_view grant_id, std::string_view node_id, Lease need, Lease want,
                          WriteId write) override;
  Result<std::optional<Lease>> LeaseTaken(std::string_view grant_id, std::string_view node_id, WriteId write) override;
  Status ReturnLease(std::string_view grant_id, std::string_view node_id, Lease unused, WriteId write,
                     WriteId from_take) override;
  Status DropEmptyLease(std::string_view grant_id, std::string_view node_id) override;
  Result<std::vector<SpendChange>> Settle(std::string_view node_id, WriteId batch,
                                          const std::vector<UsageRecord>& rows) override;
  Result<Beat> Heartbeat(std::string_view node_id, UnixSeconds now, UnixSeconds stale_before) override;
  Result<std::vector<std::string>> LiveNodes(UnixSeconds seen_since) override;
  Result<UnixSeconds> DatabaseNow() override;
  Status RetireNode(std::string_view node_id, UnixSeconds now) override;
  Status AddEvent(const EventRecord& event) override;
  Result<std::vector<EventRecord>> ListEvents(std::string_view grant_id, int64_t after_id, int64_t limit) override;
  Result<std::vector<UsageRecord>> ListUsage(std::string_view grant_id, const std::optional<UsageRecord>& after,
                                             int64_t limit) override;
  Result<std::vector<EventRecord>> ListRecentEvents(std::string_view grant_id, std::optional<int64_t> before_id,
                                                    int64_t limit) override;
  Result<std::vector<UsageRecord>> ListUsageFrom(std::string_view grant_id, std::string_view from_day,
                                                 int64_t limit) override;
  Result<UsageRecord> TotalUsage(std::string_view grant_id) override;

 private:
  // PostgreSQL: this transaction waits at most `wait` (a SET LOCAL lock_timeout) for a locked row.
  Status WaitBrieflyForLocks(const char* wait);
  Result<Lease> TakeLeaseInTransaction(std::string_view grant_id, std::string_view node_id, Lease need, Lease want,
                                       WriteId write);
  Status ReturnLeaseInTransaction(std::string_view grant_id, std::string_view node_id, Lease unused, WriteId write,
                                  WriteId from_take);
  // Whether the node settled `batch` last; if not, notes that it now does.
  Result<bool> SettledAlready(std::string_view node_id, WriteId batch);
  Result<std::vector<SpendChange>> SettledBefore(const std::vector<UsageRecord>& rows);
  // What a batch spends, by grant (each ancestor's too), and what of it came out of leases.
  struct BatchSpend {
    std::map<std::string, Lease> by_grant, leased;
  };
  Result<BatchSpend> SpendOfBatch(const std::vector<UsageRecord>& rows);
  Status ShrinkLease(std::string_view grant_id, std::string_view node_id, Lease part);
  // A grant and its ancestors (delegation), the grant first: what it spends or leases, each of them
  // does too.
  Result<std::vector<std::string>> ChainOf(std::string_view grant_id);
  Status AddUsageRow(const UsageRecord& row);
  Result<std::vector<EventRecord>> ReadEvents(Query& q);
  Result<std::vector<UsageRecord>> ReadUsage(Query& q, std::string_view grant_id);
  Result<std::vector<SpendChange>> SettleInTransaction(std::string_view node_id, const std::vector<UsageRecord>& rows);
  Result<int64_t> LoseLeasesOf(std::string_view node_id, UnixSeconds now);
  Result<int64_t> LoseLeasesOfGone(std::string_view node_id, UnixSeconds now, UnixSeconds stale_before);

  Connection& db_;
  GrantTables& grants_;
};

}  // namespace ap::store::tables
