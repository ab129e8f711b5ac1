#include "store/tables/grant_tables.hpp"

#include <algorithm>

#include "core/words.hpp"
#include "store/tables/change_tables.hpp"

namespace ap::store::tables {

using sql::kConstraint;
using sql::kDone;
using sql::kRow;
using sql::Query;
namespace {

// The columns a grant is written with, and read with (plus what its leases hold).
#define AP_GRANT_COLUMNS                                                                                  \
  "id, request_id, app_name, app_url, reason, scope_json, max_requests, status, created_at, expires_at, " \
  "approved_at, denied_at, revoked_at, usage_count, spent_micros, notes, version, request_secret_hash, "  \
  "owner_id, budget_micros, lost_micros, lost_requests, key_label, verified, ancestors, client_id"
#define AP_GRANT_READ_COLUMNS                                                   \
  AP_GRANT_COLUMNS                                                              \
  ", (SELECT COALESCE(SUM(micros), 0) FROM leases WHERE leases.grant_id = grants.id)" \
  ", (SELECT COALESCE(SUM(requests), 0) FROM leases WHERE leases.grant_id = grants.id)"
const std::string kGrantColumns = AP_GRANT_READ_COLUMNS;
const std::string kInsertGrant =
    "INSERT INTO grants (" AP_GRANT_COLUMNS
    ", parent_grant_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const std::string kSelectGrant = "SELECT " AP_GRANT_READ_COLUMNS " FROM grants WHERE id = ?";
const std::string kSelectApproved = "SELECT " AP_GRANT_READ_COLUMNS " FROM grants WHERE status = 'approved'";
#undef AP_GRANT_READ_COLUMNS
#undef AP_GRANT_COLUMNS
const std::string kSelectLiveOfClient =
    "SELECT id FROM grants WHERE client_id = ? AND status IN ('pending', 'approved') ORDER BY id LIMIT ?";
// NO KEY UPDATE (no grant's id ever changes): FOR UPDATE waits for the KEY SHARE lock a new usage
// row's foreign key takes on its grant, and a settlement holding one waits for the grant's parent,
// which a lease take holds while it locks the child: each waited on the other.
const std::string kLockGrant = "SELECT id FROM grants WHERE id = ? FOR NO KEY UPDATE";
const std::string kSelectChildIds =
    "SELECT id FROM grants WHERE parent_grant_id = ? ORDER BY created_at, id LIMIT ?";
// The descendants of the grant (parameter `param`), through the parent links, as the table
// `subtree`. Depth is bounded where children are made.
#define AP_SUBTREE(param)                                                                              \
  "WITH RECURSIVE subtree(id) AS (SELECT id FROM grants WHERE parent_grant_id = " param " UNION ALL " \
  "SELECT g.id FROM grants g JOIN subtree s ON g.parent_grant_id = s.id)"
// The grants ever made below the grant ?1, and those of them approved and unexpired at ?2: one walk.
const std::string kCountDescendants = AP_SUBTREE("?1")
    " SELECT COUNT(*), COALESCE(SUM(CASE WHEN g.status = 'approved' AND (g.expires_at IS NULL OR g.expires_at > ?2) "
    "THEN 1 ELSE 0 END), 0) FROM subtree s JOIN grants g ON g.id = s.id";
const std::string kLockTree = "SELECT id FROM grants WHERE id = ?1 OR id IN (" AP_SUBTREE(
    "?1") " SELECT id FROM subtree) ORDER BY id FOR NO KEY UPDATE";
const std::string kRevokeDescendants =
    "UPDATE grants SET status = 'revoked', revoked_at = ?1, version = version + 1 WHERE id IN (" AP_SUBTREE("?2")
    " SELECT id FROM subtree) AND status <> 'revoked' RETURNING id";
const std::string kEndDescendantsBy =
    "UPDATE grants SET expires_at = ?1, version = version + 1 WHERE id IN (" AP_SUBTREE("?2")
    " SELECT id FROM subtree) AND (expires_at IS NULL OR expires_at > ?1) RETURNING id";
#undef AP_SUBTREE
const std::string kInsertRequest =
    "INSERT INTO grant_requests (id, app_name, app_url, scope_json, reason, created_at, requested_from) VALUES (?, ?, "
    "?, ?, ?, ?, ?)";
const std::string kLapsedRequests =
    "SELECT id, request_id FROM grants WHERE status = 'pending' AND expires_at < ? ORDER BY expires_at, id LIMIT ?";
const std::string kDeletePendingGrant = "DELETE FROM grants WHERE id = ? AND status = 'pending'";
const std::string kDeleteRequest = "DELETE FROM grant_requests WHERE id = ?";
const std::string kCountWaiting =
    "SELECT COUNT(*) FROM grants WHERE status = 'pending' AND verified = 0 AND created_at > ?";
const std::string kCountWaitingUnverifiedFrom =
    "SELECT COUNT(*) FROM grant_requests r JOIN grants g ON g.request_id = r.id WHERE r.requested_from = ? "
    "AND r.created_at > ? AND g.status = 'pending' AND g.verified = 0";
const std::string kUpdateGrant =
    "UPDATE grants SET scope_json = ?, max_requests = ?, budget_micros = ?, status = ?, expires_at = ?, "
    "approved_at = ?, denied_at = ?, revoked_at = ?, notes = ?, owner_id = ?, key_label = ?, version = version + 1 "
    "WHERE id = ? AND version = ?";
const std::string kAdoptOwnerless = "UPDATE grants SET owner_id = ? WHERE owner_id IS NULL AND status <> 'pending'";

// A page of grants, newest first. Each variant is its own statement so that SQLite walks an index
// from the cursor on: a page costs its own rows, not the rows before it. An owner's page merges
// two index walks (their grants, and the requests no owner has decided), each at most a page long.
// Parameters: ?1 owner id, ?2 waiting since, ?3 and ?4 the cursor, ?5 the limit.
// With `before` the rows just newer than it come oldest first; ListGrantPage turns them around.
std::string GrantPageSql(const GrantQuery& query) {
  std::string keyset = query.before  ? " AND (created_at, id) > (?3, ?4)"
                       : query.after ? " AND (created_at, id) < (?3, ?4)"
                                     : "";
  std::string waiting =
      query.waiting_unverified_after ? " AND status = 'pending' AND verified = 0 AND created_at > ?2" : "";
  std::string order =
      query.before ? " ORDER BY created_at, id LIMIT ?5" : " ORDER BY created_at DESC, id DESC LIMIT ?5";
  if (!query.owner_id) return "SELECT " + kGrantColumns + " FROM grants WHERE 1 = 1" + waiting + keyset + order;
  std::string mine = "SELECT id FROM (SELECT id FROM grants WHERE owner_id = ?1" + waiting + keyset + order + ") AS mine";
  std::string undecided = "SELECT id FROM (SELECT id FROM grants WHERE owner_id IS NULL AND status = 'pending'" +
                          waiting + keyset + order + ") AS undecided";
  return "SELECT " + kGrantColumns + " FROM grants WHERE id IN (" + mine + " UNION ALL " + undecided + ")" + order;
}

GrantRecord ReadGrant(const Query& q) {
  GrantRecord g;
  g.id = q.Text(0);
  g.request_id = q.Text(1);
  g.app_name = q.Text(2);
  g.app_url = q.Text(3);
  g.reason = q.Text(4);
  g.scope_json = q.Text(5);
  g.max_requests = q.OptInt(6);
  g.status = ParseGrantStatus(q.Text(7)).value_or(GrantStatus::kRevoked);  // unknown status: fail closed
  g.created_at = q.Int(8);
  g.expires_at = q.OptInt(9);
  g.approved_at = q.OptInt(10);
  g.denied_at = q.OptInt(11);
  g.revoked_at = q.OptInt(12);
  g.usage_count = q.Int(13);
  g.spent_micros = q.Int(14);
  g.notes = q.OptText(15);
  g.version = q.Int(16);
  g.request_secret_hash = q.Text(17);
  g.owner_id = q.OptText(18);
  g.budget_micros = q.OptInt(19);
  g.lost_micros = q.Int(20);
  g.lost_requests = q.Int(21);
  g.key_label = q.OptText(22);
  g.verified = q.Int(23) != 0;
  g.ancestors = SplitOnSpaces(q.Text(24));
  g.client_id = q.OptText(25);
  g.leased_micros = q.Int(26);
  g.leased_requests = q.Int(27);
  return g;
}

}  // namespace

Status GrantTables::CreateGrantRequest(const GrantRequestRecord& r, const GrantRecord& g) {
  return db_.InTransaction([&]() -> Status {
    if (auto s = InsertRequest(r); !s) return s;
    return InsertGrant(g);
  });
}

Result<GrantRecord> GrantTables::GetGrant(std::string_view id) {
  Query q(db_.Prepare(kSelectGrant));
  q.Bind(id);
  int rc = q.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "Grant not found");
  if (rc != kRow) return db_.DbError("read grant");
  return ReadGrant(q);
}

Result<std::vector<GrantRecord>> GrantTables::ListGrantPage(const GrantQuery& query) {
  Query q(db_.Prepare(GrantPageSql(query)));
  q.Bind(query.owner_id).Bind(query.waiting_unverified_after);
  std::optional<GrantCursor> cursor = query.before ? query.before : query.after;
  if (cursor)
    q.Bind(cursor->created_at).Bind(cursor->id);
  else
    q.Bind(std::optional<int64_t>()).Bind(std::optional<int64_t>());
  q.Bind(query.limit);
  std::vector<GrantRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow) out.push_back(ReadGrant(q));
  if (rc != kDone) return db_.DbError("list grants");
  if (query.before) std::reverse(out.begin(), out.end());
  return out;
}

Result<int64_t> GrantTables::CountWaitingUnverified(UnixSeconds made_after) {
  Query q(db_.Prepare(kCountWaiting));
  q.Bind(made_after);
  if (q.Step() != kRow) return db_.DbError("count waiting requests");
  return q.Int(0);
}

Result<int64_t> GrantTables::CountWaitingUnverifiedFrom(std::string_view address, UnixSeconds made_after) {
  Query q(db_.Prepare(kCountWaitingUnverifiedFrom));
  q.Bind(address).Bind(made_after);
  if (q.Step() != kRow) return db_.DbError("count waiting requests");
  return q.Int(0);
}

Result<std::vector<GrantRecord>> GrantTables::ListApprovedGrants() {
  Query q(db_.Prepare(kSelectApproved));
  std::vector<GrantRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow) out.push_back(ReadGrant(q));
  if (rc != kDone) return db_.DbError("list grants");
  return out;
}

Result<GrantRecord> GrantTables::UpdateGrant(const GrantRecord& g) {
  return db_.InTransaction([&] { return UpdateGrantInTransaction(g); });
}

Result<GrantRecord> GrantTables::UpdateGrantInTransaction(const GrantRecord& g) {
  Query q(db_.Prepare(kUpdateGrant));
  q.Bind(g.scope_json).Bind(g.max_requests).Bind(g.budget_micros).Bind(GrantStatusName(g.status));
  q.Bind(g.expires_at).Bind(g.approved_at).Bind(g.denied_at).Bind(g.revoked_at).Bind(g.notes).Bind(g.owner_id);
  q.Bind(g.key_label).Bind(g.id).Bind(g.version);
  if (q.Step() != kDone) return db_.DbError("update grant");
  if (db_.Changes() == 0) {
    auto current = GetGrant(g.id);
    if (!current) return current.error();
    return MakeError(Errc::kBadRequest, "Grant was changed concurrently; retry");
  }
  if (auto told = AppendChange(db_, "grant", g.id); !told) return told.error();
  return GetGrant(g.id);
}

Status GrantTables::AdoptOwnerlessGrants(std::string_view owner_id) {
  Query q(db_.Prepare(kAdoptOwnerless));
  q.Bind(owner_id);
  if (q.Step() != kDone) return db_.DbError("adopt grants");
  return {};
}

Result<int64_t> GrantTables::PruneLapsedRequests(UnixSeconds before, int64_t limit) {
  return db_.InTransaction([&]() -> Result<int64_t> {
    std::vector<std::pair<std::string, std::string>> lapsed;  // grant, request
    {
      Query q(db_.Prepare(kLapsedRequests));
      q.Bind(before).Bind(limit);
      int rc;
      while ((rc = q.Step()) == kRow) lapsed.emplace_back(q.Text(0), q.Text(1));
      if (rc != kDone) return db_.DbError("list lapsed requests");
    }
    int64_t deleted = 0;
    for (const auto& [grant_id, request_id] : lapsed) {
      Query grant(db_.Prepare(kDeletePendingGrant));
      grant.Bind(grant_id);
      if (grant.Step() != kDone) return db_.DbError("delete a lapsed request's grant");
      if (db_.Changes() == 0) continue;  // decided meanwhile (PostgreSQL)
      Query request(db_.Prepare(kDeleteRequest));
      request.Bind(request_id);
      if (request.Step() != kDone) return db_.DbError("delete a lapsed request");
      ++deleted;
    }
    return deleted;
  });
}

Status GrantTables::InsertRequest(const GrantRequestRecord& r) {
  Query q(db_.Prepare(kInsertRequest));
  q.Bind(r.id).Bind(r.app_name).Bind(r.app_url).Bind(r.scope_json).Bind(r.reason).Bind(r.created_at);
  q.Bind(r.requested_from);
  if (q.Step() != kDone) return db_.DbError("insert grant request");
  return {};
}

Status GrantTables::InsertGrant(const GrantRecord& g) {
  Query q(db_.Prepare(kInsertGrant));
  q.Bind(g.id).Bind(g.request_id).Bind(g.app_name).Bind(g.app_url).Bind(g.reason).Bind(g.scope_json);
  q.Bind(g.max_requests).Bind(GrantStatusName(g.status)).Bind(g.created_at).Bind(g.expires_at).Bind(g.approved_at);
  q.Bind(g.denied_at).Bind(g.revoked_at).Bind(g.usage_count).Bind(g.spent_micros).Bind(g.notes);
  q.Bind(g.version).Bind(g.request_secret_hash).Bind(g.owner_id).Bind(g.budget_micros).Bind(g.lost_micros);
  q.Bind(g.lost_requests).Bind(g.key_label).Bind(int64_t{g.verified}).Bind(JoinWithSpaces(g.ancestors));
  q.Bind(g.client_id);
  q.Bind(g.ancestors.empty() ? std::optional<std::string>() : std::optional<std::string>(g.ancestors.front()));
  if (q.Step() != kDone) return db_.DbError("insert grant");
  return {};
}

Status GrantTables::CreateChildGrant(const GrantRequestRecord& request, const GrantRecord& child, ChildBounds bounds,
                                     UnixSeconds now) {
  if (child.ancestors.empty()) return MakeError(Errc::kInternal, "a child grant needs a parent");
  const std::string& root_id = child.ancestors.back();
  return db_.InTransaction([&]() -> Status {
    if (auto locked = LockInIdOrder(child.ancestors); !locked) {
      if (locked.error().code == Errc::kNotFound) return MakeError(Errc::kUnauthorized, "The grant is gone");
      return locked;
    }
    for (const std::string& id : child.ancestors) {
      auto ancestor = GetGrant(id);
      if (!ancestor && ancestor.error().code == Errc::kNotFound) return MakeError(Errc::kUnauthorized, "The grant is gone");
      if (!ancestor) return ancestor.error();
      bool expired = ancestor->expires_at && *ancestor->expires_at <= now;
      if (ancestor->status != GrantStatus::kApproved || expired)
        return MakeError(Errc::kUnauthorized, "Grant " + id + " is '" +
                                                  std::string(GrantStatusName(expired ? GrantStatus::kExpired
                                                                                      : ancestor->status)) +
                                                  "'");
      if (ancestor->expires_at && (!child.expires_at || *child.expires_at > *ancestor->expires_at))
        return MakeError(Errc::kUnauthorized, "Grant " + id + " ends before the child would: ask for a shorter lifetime");
    }
    Query tree(db_.Prepare(kCountDescendants));
    tree.Bind(root_id).Bind(now);
    if (tree.Step() != kRow) return db_.DbError("count descendants");
    if (tree.Int(1) >= bounds.live_descendants)
      return MakeError(Errc::kLimitReached, std::to_string(bounds.live_descendants) +
                                                " grants handed on below the one the owner approved are in use; "
                                                "revoke some or let them expire first");
    if (tree.Int(0) >= bounds.descendants)
      return MakeError(Errc::kLimitReached, std::to_string(bounds.descendants) +
                                                " grants were already handed on below the one the owner approved; "
                                                "ask the owner for a new grant");
    if (auto s = InsertRequest(request); !s) return s;
    if (auto s = InsertGrant(child); !s) return s;
    // Every broker caches it: a call of a grant below it takes its per-minute and at-once limits
    // only from the ancestors a broker holds.
    return AppendChange(db_, "grant", child.id);
  });
}

Result<std::vector<std::string>> GrantTables::Ids(const std::string& sql, std::string_view of, int64_t limit,
                                                  const char* what) {
  Query q(db_.Prepare(sql));
  q.Bind(of).Bind(limit);
  std::vector<std::string> ids;
  int rc;
  while ((rc = q.Step()) == kRow) ids.push_back(q.Text(0));
  if (rc != kDone) return db_.DbError(what);
  return ids;
}

Result<std::vector<std::string>> GrantTables::ListChildIds(std::string_view parent_id, int64_t limit) {
  return Ids(kSelectChildIds, parent_id, limit, "list children");
}

Result<std::vector<std::string>> GrantTables::ListLiveGrantsOfClient(std::string_view client_id, int64_t limit) {
  return Ids(kSelectLiveOfClient, client_id, limit, "list an app's grants");
}

Result<GrantStore::TreeChange> GrantTables::UpdateGrantTree(const GrantRecord& grant, SubtreeChange carry) {
  return db_.InTransaction([&]() -> Result<TreeChange> {
    if (db_.dialect() == sql::Dialect::kPostgres) {
      Query lock(db_.Prepare(kLockTree));
      lock.Bind(grant.id);
      int rc;
      while ((rc = lock.Step()) == kRow) continue;
      if (rc != kDone) return db_.DbError("lock grants");
    }
    auto updated = UpdateGrantInTransaction(grant);
    if (!updated) return updated.error();
    TreeChange change{std::move(*updated), {}};
    if (carry.revoked_at)
      if (auto s = UpdateDescendants(kRevokeDescendants, grant.id, *carry.revoked_at, change.descendants); !s)
        return s.error();
    if (carry.ends_by)
      if (auto s = UpdateDescendants(kEndDescendantsBy, grant.id, *carry.ends_by, change.descendants); !s)
        return s.error();
    return change;
  });
}

Status GrantTables::LockInIdOrder(std::vector<std::string> ids) {
  if (db_.dialect() != sql::Dialect::kPostgres) return {};
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (const auto& id : ids) {
    Query lock(db_.Prepare(kLockGrant));
    lock.Bind(id);
    int rc = lock.Step();
    if (rc == kDone) return MakeError(Errc::kNotFound, "Grant not found");
    if (rc != kRow) return db_.DbError("lock grant");
  }
  return {};
}

Status GrantTables::UpdateDescendants(const std::string& sql, std::string_view id, int64_t value,
                                      std::vector<GrantRecord>& changed) {
  std::vector<std::string> ids;
  {
    Query q(db_.Prepare(sql));
    q.Bind(value).Bind(id);
    int rc;
    while ((rc = q.Step()) == kRow) ids.push_back(q.Text(0));
    if (rc != kDone) return db_.DbError("update descendants");
  }
  for (const auto& child : ids) {
    if (auto told = AppendChange(db_, "grant", child); !told) return told.error();
    auto stored = GetGrant(child);
    if (!stored) return stored.error();
    changed.push_back(std::move(*stored));
  }
  return {};
}

}  // namespace ap::store::tables
