#include "store/tables/metering_tables.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include "core/money.hpp"
#include "core/words.hpp"

namespace ap::store::tables {

using sql::kConstraint;
using sql::kDone;
using sql::kRow;
using sql::Query;
namespace {

const std::string kAddLease =
    "INSERT INTO leases (grant_id, node_id, micros, requests) VALUES (?, ?, ?, ?) ON CONFLICT (grant_id, node_id) "
    "DO UPDATE SET micros = leases.micros + excluded.micros, requests = leases.requests + excluded.requests";
const std::string kShrinkLease =
    "UPDATE leases SET micros = CASE WHEN micros > ?1 THEN micros - ?1 ELSE 0 END, "
    "requests = CASE WHEN requests > ?2 THEN requests - ?2 ELSE 0 END WHERE grant_id = ?3 AND node_id = ?4";
const std::string kNoteTake =
    "UPDATE leases SET last_take = ?, last_take_micros = ?, last_take_requests = ? WHERE grant_id = ? AND node_id = ?";
const std::string kLeaseTaken =
    "SELECT last_take_micros, last_take_requests FROM leases WHERE grant_id = ? AND node_id = ? AND last_take = ?";
// Checked and noted in one statement: PostgreSQL checks the row again once it has waited for it, so
// a retry that overtakes its first try (still committing on a connection given up) is seen.
const std::string kClaimReturn =
    "UPDATE leases SET last_return = ?1 WHERE grant_id = ?2 AND node_id = ?3 AND last_return <> ?1 AND last_take = ?4 "
    "RETURNING 1";
const std::string kClaimSettlement =
    "UPDATE nodes SET last_settlement = ?1 WHERE id = ?2 AND last_settlement <> ?1 RETURNING 1";
const std::string kSpendOfGrant = "SELECT spent_micros, budget_micros FROM grants WHERE id = ?";
const std::string kDropEmptyLease =
    "DELETE FROM leases WHERE grant_id = ? AND node_id = ? AND micros = 0 AND requests = 0";
const std::string kAddUsage =
    "INSERT INTO usage (grant_id, day, model, requests, input_tokens, cached_input_tokens, output_tokens, "
    "audio_milliseconds, cost_micros) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (grant_id, day, model) DO UPDATE SET "
    "requests = usage.requests + excluded.requests, input_tokens = usage.input_tokens + excluded.input_tokens, "
    "cached_input_tokens = usage.cached_input_tokens + excluded.cached_input_tokens, "
    "output_tokens = usage.output_tokens + excluded.output_tokens, "
    "audio_milliseconds = usage.audio_milliseconds + excluded.audio_milliseconds, "
    "cost_micros = usage.cost_micros + excluded.cost_micros";
const std::string kSettleGrant =
    "UPDATE grants SET spent_micros = spent_micros + ?, usage_count = usage_count + ? WHERE id = ? "
    "RETURNING spent_micros, budget_micros";
// Taking a node's leases is one statement, so of two brokers that find the same node gone only
// one counts its leases as lost.
const std::string kClaimNodeLeases = "DELETE FROM leases WHERE node_id = ? RETURNING grant_id, micros, requests";
const std::string kSelectAncestors = "SELECT ancestors FROM grants WHERE id = ?";
const std::string kLoseLease =
    "UPDATE grants SET lost_micros = lost_micros + ?, lost_requests = lost_requests + ? WHERE id = ?";
const std::string kDeleteNode = "DELETE FROM nodes WHERE id = ?";
const std::string kSeeNode =
    "INSERT INTO nodes (id, seen_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at";
const std::string kVanishedNodes =
    "SELECT DISTINCT l.node_id FROM leases l WHERE l.node_id <> ? "
    "AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = l.node_id AND n.seen_at >= ?) ORDER BY l.node_id";
const std::string kLiveNodes = "SELECT id FROM nodes WHERE seen_at >= ? ORDER BY id";
const std::string kForgetNodes = "DELETE FROM nodes WHERE seen_at < ?";
const std::string kForgetNode = "DELETE FROM nodes WHERE id = ? AND seen_at < ?";
const std::string kNodeRow = "SELECT 1 FROM nodes WHERE id = ?";
constexpr const char* kBriefLockWait = "SET LOCAL lock_timeout = '100ms'";
// A call's lease and its settlement wait this long for a grant's row another broker holds (one
// stopped mid-transaction holds it until PostgreSQL ends its session): not the session's 5 s, as
// every other call of this broker waits behind them on the store thread.
constexpr const char* kCallLockWait = "SET LOCAL lock_timeout = '250ms'";
const std::string kInsertEvent = "INSERT INTO events (grant_id, at, kind, detail) VALUES (?, ?, ?, ?)";
const std::string kSelectEvents =
    "SELECT grant_id, at, kind, detail, id FROM events WHERE grant_id = ? AND id > ? ORDER BY id LIMIT ?";
const std::string kSelectRecentEvents =
    "SELECT grant_id, at, kind, detail, id FROM events WHERE grant_id = ?1 AND (?2 IS NULL OR id < ?2) "
    "ORDER BY id DESC LIMIT ?3";
const std::string kSelectUsageFrom =
    "SELECT day, model, requests, input_tokens, cached_input_tokens, output_tokens, audio_milliseconds, cost_micros "
    "FROM usage WHERE grant_id = ? AND day >= ? ORDER BY day, model LIMIT ?";
const std::string kSelectUsage =
    "SELECT day, model, requests, input_tokens, cached_input_tokens, output_tokens, audio_milliseconds, cost_micros "
    "FROM usage WHERE grant_id = ?1 AND (?2 IS NULL OR (day, model) > (?2, ?3)) ORDER BY day, model LIMIT ?4";
const std::string kTotalUsage =
    "SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cached_input_tokens), 0), "
    "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(audio_milliseconds), 0), COALESCE(SUM(cost_micros), 0) "
    "FROM usage WHERE grant_id = ?";

}  // namespace

Status MeteringTables::WaitBrieflyForLocks(const char* wait) {
  if (db_.dialect() != sql::Dialect::kPostgres) return {};
  return db_.Exec(wait);
}

Result<Lease> MeteringTables::TakeLease(std::string_view grant_id, std::string_view node_id, Lease need, Lease want,
                                        WriteId write) {
  return db_.InTransaction([&]() -> Result<Lease> {
    if (auto brief = WaitBrieflyForLocks(kCallLockWait); !brief) return brief.error();
    return TakeLeaseInTransaction(grant_id, node_id, need, want, write);
  });
}

Result<std::optional<Lease>> MeteringTables::LeaseTaken(std::string_view grant_id, std::string_view node_id,
                                                        WriteId write) {
  Query q(db_.Prepare(kLeaseTaken));
  q.Bind(grant_id).Bind(node_id).Bind(write);
  int rc = q.Step();
  if (rc == kDone) return std::optional<Lease>();
  if (rc != kRow) return db_.DbError("read a lease's last take");
  return std::optional<Lease>(Lease{q.Int(0), q.Int(1)});
}

Status MeteringTables::DropEmptyLease(std::string_view grant_id, std::string_view node_id) {
  Query drop(db_.Prepare(kDropEmptyLease));
  drop.Bind(grant_id).Bind(node_id);
  if (drop.Step() != kDone) return db_.DbError("drop an empty lease");
  return {};
}

Status MeteringTables::ReturnLease(std::string_view grant_id, std::string_view node_id, Lease unused, WriteId write,
                                   WriteId from_take) {
  return db_.InTransaction([&]() -> Status {
    if (auto brief = WaitBrieflyForLocks(kCallLockWait); !brief) return brief;
    return ReturnLeaseInTransaction(grant_id, node_id, unused, write, from_take);
  });
}

// The grant's own lease row, as the node's take `from_take` left it, takes the return once. Not
// when it holds this return already (its answer was lost), nor when the row is gone or was made
// again by another take since: the node's leases were lost (counted as spent), and a child's take
// made the row anew, which this return is not from.
Status MeteringTables::ReturnLeaseInTransaction(std::string_view grant_id, std::string_view node_id, Lease unused,
                                                WriteId write, WriteId from_take) {
  Query claim(db_.Prepare(kClaimReturn));
  claim.Bind(write).Bind(grant_id).Bind(node_id).Bind(from_take);
  int rc = claim.Step();
  if (rc == kDone) return {};
  if (rc != kRow || claim.Step() != kDone) return db_.DbError("claim a return");
  auto chain = ChainOf(grant_id);
  if (!chain) return chain.error();
  for (const auto& id : *chain)
    if (auto shrunk = ShrinkLease(id, node_id, unused); !shrunk) return shrunk;
  return {};
}

Result<std::vector<std::string>> MeteringTables::ChainOf(std::string_view grant_id) {
  Query q(db_.Prepare(kSelectAncestors));
  q.Bind(grant_id);
  int rc = q.Step();
  std::vector<std::string> chain{std::string(grant_id)};
  if (rc == kDone) return chain;  // the grant is gone: its own rows only
  if (rc != kRow) return db_.DbError("read ancestors");
  for (auto& id : SplitOnSpaces(q.Text(0))) chain.push_back(std::move(id));
  return chain;
}

Result<std::vector<SpendChange>> MeteringTables::Settle(std::string_view node_id, WriteId batch,
                                                        const std::vector<UsageRecord>& rows) {
  if (rows.empty()) return std::vector<SpendChange>{};
  return db_.InTransaction([&]() -> Result<std::vector<SpendChange>> {
    if (auto brief = WaitBrieflyForLocks(kCallLockWait); !brief) return brief.error();
    auto already = SettledAlready(node_id, batch);
    if (!already) return already.error();
    if (*already) return SettledBefore(rows);
    return SettleInTransaction(node_id, rows);
  });
}

// The node's row first, as a broker that finds the node gone takes it (then its leases, then its
// grants): two brokers never wait for each other's locks. A node without a row (taken for gone,
// its leases counted as spent) settles without one: its rows count twice then, never less.
Result<bool> MeteringTables::SettledAlready(std::string_view node_id, WriteId batch) {
  Query claim(db_.Prepare(kClaimSettlement));
  claim.Bind(batch).Bind(node_id);
  int rc = claim.Step();
  if (rc == kRow) return claim.Step() == kDone ? Result<bool>(false) : db_.DbError("claim a settlement");
  if (rc != kDone) return db_.DbError("claim a settlement");
  Query node(db_.Prepare(kNodeRow));
  node.Bind(node_id);
  rc = node.Step();
  if (rc != kRow && rc != kDone) return db_.DbError("read the node");
  return rc == kRow;  // its row names this batch
}

// What a batch applied before did to its grants' spend, as if it were applied now: its budget
// alerts are still due (the answer that would have raised them was lost).
Result<std::vector<SpendChange>> MeteringTables::SettledBefore(const std::vector<UsageRecord>& rows) {
  auto spend = SpendOfBatch(rows);
  if (!spend) return spend.error();
  std::vector<SpendChange> changes;
  for (const auto& [grant_id, settled] : spend->by_grant) {
    Query q(db_.Prepare(kSpendOfGrant));
    q.Bind(grant_id);
    int rc = q.Step();
    if (rc == kDone) continue;  // the grant is gone
    if (rc != kRow) return db_.DbError("read a grant's spend");
    changes.push_back(SpendChange{grant_id, q.Int(0) - settled.micros, q.Int(0), q.OptInt(1)});
  }
  return changes;
}

Result<MeteringStore::Beat> MeteringTables::Heartbeat(std::string_view node_id, UnixSeconds now,
                                                      UnixSeconds stale_before) {
  Status seen = db_.InTransaction([&]() -> Status {
    Query q(db_.Prepare(kSeeNode));
    q.Bind(node_id).Bind(now);
    if (q.Step() != kDone) return db_.DbError("heartbeat");
    return {};
  });
  if (!seen) return seen.error();
  std::vector<std::string> gone;
  {
    Query q(db_.Prepare(kVanishedNodes));
    q.Bind(node_id).Bind(stale_before);
    int rc;
    while ((rc = q.Step()) == kRow) gone.push_back(q.Text(0));
    if (rc != kDone) return Beat{0, db_.DbError("find vanished nodes")};
  }
  Beat beat;
  for (const auto& node : gone) {
    auto lost = db_.InTransaction([&] { return LoseLeasesOfGone(node, now, stale_before); });
    if (lost)
      beat.lost += *lost;
    else if (!beat.deferred)
      beat.deferred = lost.error();
  }
  Query forget(db_.Prepare(kForgetNodes));
  forget.Bind(stale_before);
  if (forget.Step() != kDone && !beat.deferred) beat.deferred = db_.DbError("forget nodes");
  return beat;
}

Result<UnixSeconds> MeteringTables::DatabaseNow() {
  Query q(db_.Prepare(std::string("SELECT ") + sql::UnixNow(db_.dialect())));
  if (q.Step() != kRow) return db_.DbError("read the database's clock");
  return q.Int(0);
}

Result<std::vector<std::string>> MeteringTables::LiveNodes(UnixSeconds seen_since) {
  Query q(db_.Prepare(kLiveNodes));
  q.Bind(seen_since);
  std::vector<std::string> ids;
  int rc;
  while ((rc = q.Step()) == kRow) ids.push_back(q.Text(0));
  if (rc != kDone) return db_.DbError("list live nodes");
  return ids;
}

Status MeteringTables::RetireNode(std::string_view node_id, UnixSeconds now) {
  return db_.InTransaction([&]() -> Status {
    if (auto lost = LoseLeasesOf(node_id, now); !lost) return lost.error();
    Query node(db_.Prepare(kDeleteNode));
    node.Bind(node_id);
    if (node.Step() != kDone) return db_.DbError("retire node");
    return {};
  });
}

Status MeteringTables::AddEvent(const EventRecord& e) {
  Query q(db_.Prepare(kInsertEvent));
  q.Bind(e.grant_id).Bind(e.at).Bind(e.kind).Bind(e.detail);
  if (q.Step() != kDone) return db_.DbError("record event");
  return {};
}

Result<std::vector<EventRecord>> MeteringTables::ReadEvents(Query& q) {
  std::vector<EventRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow) out.push_back(EventRecord{q.Text(0), q.Int(1), q.Text(2), q.Text(3), q.Int(4)});
  if (rc != kDone) return db_.DbError("list events");
  return out;
}

Result<std::vector<EventRecord>> MeteringTables::ListEvents(std::string_view grant_id, int64_t after_id,
                                                            int64_t limit) {
  Query q(db_.Prepare(kSelectEvents));
  q.Bind(grant_id).Bind(after_id).Bind(limit);
  return ReadEvents(q);
}

Result<std::vector<EventRecord>> MeteringTables::ListRecentEvents(std::string_view grant_id,
                                                                  std::optional<int64_t> before_id, int64_t limit) {
  Query q(db_.Prepare(kSelectRecentEvents));
  q.Bind(grant_id).Bind(before_id).Bind(limit);
  return ReadEvents(q);
}

Result<std::vector<UsageRecord>> MeteringTables::ReadUsage(Query& q, std::string_view grant_id) {
  std::vector<UsageRecord> rows;
  int rc;
  while ((rc = q.Step()) == kRow)
    rows.push_back(UsageRecord{std::string(grant_id), q.Text(0), q.Text(1), q.Int(2), q.Int(3), q.Int(4), q.Int(5),
                               q.Int(6), q.Int(7)});
  if (rc != kDone) return db_.DbError("list usage");
  return rows;
}

Result<std::vector<UsageRecord>> MeteringTables::ListUsageFrom(std::string_view grant_id, std::string_view from_day,
                                                               int64_t limit) {
  Query q(db_.Prepare(kSelectUsageFrom));
  q.Bind(grant_id).Bind(from_day).Bind(limit);
  return ReadUsage(q, grant_id);
}

Result<std::vector<UsageRecord>> MeteringTables::ListUsage(std::string_view grant_id,
                                                           const std::optional<UsageRecord>& after, int64_t limit) {
  Query q(db_.Prepare(kSelectUsage));
  q.Bind(grant_id);
  if (after)
    q.Bind(after->day).Bind(after->model);
  else
    q.Bind(std::optional<std::string>()).Bind(std::optional<std::string>());
  q.Bind(limit);
  return ReadUsage(q, grant_id);
}

Result<UsageRecord> MeteringTables::TotalUsage(std::string_view grant_id) {
  Query q(db_.Prepare(kTotalUsage));
  q.Bind(grant_id);
  if (q.Step() != kRow) return db_.DbError("total usage");
  return UsageRecord{std::string(grant_id), "", "", q.Int(0), q.Int(1), q.Int(2), q.Int(3), q.Int(4), q.Int(5)};
}

// A child grant's lease is cut from it and from each of its ancestors at once: the least any of
// them has left bounds it, and each of them counts it as leased, so what a whole tree spends never
// passes any of its budgets. An ancestor lends one lease at most half of what it has left (never
// less than the call needs), and so does the grant itself for requests: its other descendants and
// its own calls share the rest. Without that, three busy children of a grant capped at 500
// requests leased all 500 between them, or the grant's own busy calls did, and the next call
// needing a lease was refused ("500 of 500 requests used") after 200 calls. A grant's own calls
// may still lease all of its budget: a stream starts with what is left.
Result<Lease> MeteringTables::TakeLeaseInTransaction(std::string_view grant_id, std::string_view node_id, Lease need,
                                                     Lease want, WriteId write) {
  auto found = ChainOf(grant_id);
  if (!found) return found.error();
  const std::vector<std::string>& chain = *found;
  if (auto locked = grants_.LockInIdOrder(chain); !locked) return locked.error();
  // Expiry by the database's clock, which every node shares: a node whose clock is behind would
  // otherwise go on leasing from a grant that has ended (or that its owner ended "now").
  auto now = DatabaseNow();
  if (!now) return now.error();
  Lease granted{std::max(want.micros, need.micros), std::max(want.requests, need.requests)};
  bool limits_requests = false, limits_micros = false;
  for (const auto& id : chain) {
    auto grant = grants_.GetGrant(id);  // read under the locks: what each has left now
    if (!grant) return grant.error();
    bool ancestor = id != chain.front();
    auto half = [](int64_t left, int64_t needed) { return std::max(needed, left / 2); };
    if (grant->status != GrantStatus::kApproved)
      return MakeError(Errc::kUnauthorized, "Grant status is '" + std::string(GrantStatusName(grant->status)) + "'");
    if (grant->expires_at && *grant->expires_at <= *now)
      return MakeError(Errc::kUnauthorized,
                       "Grant status is '" + std::string(GrantStatusName(GrantStatus::kExpired)) + "'");
    if (grant->max_requests) {
      int64_t left = LeftOf(*grant->max_requests, {grant->usage_count, grant->lost_requests, grant->leased_requests});
      if (left < need.requests)
        return MakeError(Errc::kLimitReached, "Usage cap exceeded (" +
                                                  std::to_string(*grant->max_requests - std::max<int64_t>(left, 0)) +
                                                  " of " + std::to_string(*grant->max_requests) + " requests used)");
      granted.requests = std::min(granted.requests, half(left, need.requests));
      limits_requests = true;
    }
    if (grant->budget_micros) {
      int64_t left = LeftOf(*grant->budget_micros, {grant->spent_micros, grant->lost_micros, grant->leased_micros});
      if (left < need.micros) return MakeError(Errc::kBudgetExceeded, "Budget exceeded");
      granted.micros = std::min(granted.micros, ancestor ? half(left, need.micros) : left);
      limits_micros = true;
    }
  }
  // A child leases what it asks for even where no grant of its chain sets a limit yet: its ancestors
  // count it, so a limit set on one of them later counts it too.
  bool chained = chain.size() > 1;
  if (!limits_requests && !chained) granted.requests = 0;
  if (!limits_micros && !chained) granted.micros = 0;
  if (granted.micros == 0 && granted.requests == 0) return granted;
  for (const auto& id : chain) {
    Query q(db_.Prepare(kAddLease));
    q.Bind(id).Bind(node_id).Bind(granted.micros).Bind(granted.requests);
    if (q.Step() != kDone) return db_.DbError("take lease");
  }
  Query note(db_.Prepare(kNoteTake));
  note.Bind(write).Bind(granted.micros).Bind(granted.requests).Bind(grant_id).Bind(node_id);
  if (note.Step() != kDone) return db_.DbError("note a take");
  return granted;
}

// Takes `part` out of the node's lease (never below zero). An empty lease stays, with the ids of
// its last take and return, until its node drops it (DropEmptyLease) or its node's leases go
// (LoseLeasesOf): deleted, and made again by the next take of the grant, it would forget a return
// whose answer was lost, which would then be applied again.
Status MeteringTables::ShrinkLease(std::string_view grant_id, std::string_view node_id, Lease part) {
  Query shrink(db_.Prepare(kShrinkLease));
  shrink.Bind(part.micros).Bind(part.requests).Bind(grant_id).Bind(node_id);
  if (shrink.Step() != kDone) return db_.DbError("shrink lease");
  return {};
}

Status MeteringTables::AddUsageRow(const UsageRecord& u) {
  Query q(db_.Prepare(kAddUsage));
  q.Bind(u.grant_id).Bind(u.day).Bind(u.model).Bind(u.requests).Bind(u.input_tokens).Bind(u.cached_input_tokens);
  q.Bind(u.output_tokens).Bind(u.audio_milliseconds).Bind(u.cost_micros);
  if (q.Step() != kDone) return db_.DbError("record usage");
  return {};
}

Result<std::vector<SpendChange>> MeteringTables::SettleInTransaction(std::string_view node_id,
                                                                     const std::vector<UsageRecord>& rows) {
  // Rows and grants are written in one order everywhere, so two brokers settling the same grants
  // never deadlock.
  std::vector<const UsageRecord*> ordered;
  for (const auto& row : rows) ordered.push_back(&row);
  std::sort(ordered.begin(), ordered.end(), [](const UsageRecord* a, const UsageRecord* b) {
    return std::tie(a->grant_id, a->day, a->model) < std::tie(b->grant_id, b->day, b->model);
  });
  for (const UsageRecord* p : ordered)
    if (auto added = AddUsageRow(*p); !added) return added.error();
  auto spend = SpendOfBatch(rows);
  if (!spend) return spend.error();
  std::vector<SpendChange> changes;
  for (const auto& [grant_id, settled] : spend->by_grant) {
    if (auto shrunk = ShrinkLease(grant_id, node_id, spend->leased[grant_id]); !shrunk) return shrunk.error();
    Query q(db_.Prepare(kSettleGrant));
    q.Bind(settled.micros).Bind(settled.requests).Bind(grant_id);
    int rc = q.Step();
    if (rc == kDone) continue;  // the grant is gone
    if (rc != kRow) return db_.DbError("settle");
    changes.push_back(SpendChange{grant_id, q.Int(0) - settled.micros, q.Int(0), q.OptInt(1)});
    if (q.Step() != kDone) return db_.DbError("settle");
  }
  return changes;
}

// A child's spend is its ancestors' too, and comes out of the leases it made each of them count.
// What the meter did not lease (a grant that limited nothing when its call was admitted) comes out
// of no lease: where a grant sets no limit its row holds only what its children leased.
Result<MeteringTables::BatchSpend> MeteringTables::SpendOfBatch(const std::vector<UsageRecord>& rows) {
  struct Settled {
    Lease spent, leased;
  };
  std::map<std::string, Settled> own;
  for (const UsageRecord& row : rows) {
    Settled& sum = own[row.grant_id];
    // Saturating: each row's cost is at most kMaxMicros, a batch's sum of them need not be.
    sum.spent.micros = AddMicros(sum.spent.micros, row.cost_micros);
    sum.spent.requests += row.requests;
    sum.leased.micros = AddMicros(sum.leased.micros, std::max<int64_t>(0, row.cost_micros - row.unleased_micros));
    sum.leased.requests += std::max<int64_t>(0, row.requests - row.unleased_requests);
  }
  BatchSpend spend;
  for (const auto& [grant_id, settled] : own) {
    auto chain = ChainOf(grant_id);
    if (!chain) return chain.error();
    for (const auto& id : *chain) {
      Lease& all = spend.by_grant[id];
      all.micros = AddMicros(all.micros, settled.spent.micros);
      all.requests += settled.spent.requests;
      Lease& leased = spend.leased[id];
      leased.micros = AddMicros(leased.micros, settled.leased.micros);
      leased.requests += settled.leased.requests;
    }
  }
  return spend;
}

// Counts what `node_id` still leases as lost, with an event per grant it held some of, and drops its
// leases (empty ones too).
Result<int64_t> MeteringTables::LoseLeasesOf(std::string_view node_id, UnixSeconds now) {
  std::vector<std::pair<std::string, Lease>> held;
  {
    Query q(db_.Prepare(kClaimNodeLeases));
    q.Bind(node_id);
    int rc;
    while ((rc = q.Step()) == kRow)
      if (q.Int(1) > 0 || q.Int(2) > 0) held.push_back({q.Text(0), Lease{q.Int(1), q.Int(2)}});
    if (rc != kDone) return db_.DbError("find lost leases");
  }
  // Grants in one order everywhere: no deadlock between brokers.
  std::sort(held.begin(), held.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [grant_id, lease] : held) {
    Query lose(db_.Prepare(kLoseLease));
    lose.Bind(lease.micros).Bind(lease.requests).Bind(grant_id);
    if (lose.Step() != kDone) return db_.DbError("count lost lease");
    std::string detail = "{\"node\":\"" + std::string(node_id) + "\",\"micros\":" + std::to_string(lease.micros) +
                         ",\"requests\":" + std::to_string(lease.requests) + "}";
    if (auto added = AddEvent(EventRecord{grant_id, now, "lease_lost", std::move(detail)}); !added)
      return added.error();
  }
  return static_cast<int64_t>(held.size());
}

// The leases of `node_id`, if it is still gone (not seen since `stale_before`). Its stale row is
// deleted first, which waits for a heartbeat of its under way and then finds the row fresh: a node
// that came back keeps its leases.
Result<int64_t> MeteringTables::LoseLeasesOfGone(std::string_view node_id, UnixSeconds now, UnixSeconds stale_before) {
  // Rows a paused broker holds are not waited for: a later heartbeat takes them, and this one's
  // connection, which the calls' leases need too, is not held up for the usual lock timeout.
  if (auto brief = WaitBrieflyForLocks(kBriefLockWait); !brief) return brief.error();
  Query forget(db_.Prepare(kForgetNode));
  forget.Bind(node_id).Bind(stale_before);
  if (forget.Step() != kDone) return db_.DbError("forget node");
  Query still(db_.Prepare(kNodeRow));
  still.Bind(node_id);
  int rc = still.Step();
  if (rc == kRow) return 0;  // it came back
  if (rc != kDone) return db_.DbError("find vanished nodes");
  return LoseLeasesOf(node_id, now);
}

}  // namespace ap::store::tables
