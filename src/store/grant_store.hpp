#pragma once
// Grants and the requests they answer. Methods block on I/O: call them on the store thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace ap::store {

// kExhausted is never stored: an approved grant whose budget or request cap is used up shows it.
enum class GrantStatus { kPending, kApproved, kDenied, kRevoked, kExpired, kExhausted };
std::string_view GrantStatusName(GrantStatus status);
std::optional<GrantStatus> ParseGrantStatus(std::string_view name);

struct GrantRequestRecord {
  std::string id;
  std::string app_name;
  std::string app_url;
  std::string scope_json;
  std::string reason;
  UnixSeconds created_at = 0;
  // Where an unverified request (POST /grant-requests) came from, as the throttles key addresses
  // (domain::AddressKey): one address's share of those waiting is bounded. Empty for the others.
  std::string requested_from;
};

struct GrantRecord {
  std::string id;
  std::string request_id;
  std::string app_name;
  std::string app_url;
  std::string reason;
  std::string scope_json;  // the validated scope, as JSON text
  // The limits, copied out of the scope so the store can lease from them in one transaction.
  std::optional<int64_t> max_requests;
  std::optional<int64_t> budget_micros;
  GrantStatus status = GrantStatus::kPending;
  UnixSeconds created_at = 0;
  std::optional<UnixSeconds> expires_at;
  std::optional<UnixSeconds> approved_at;
  std::optional<UnixSeconds> denied_at;
  std::optional<UnixSeconds> revoked_at;
  int64_t usage_count = 0;   // settled requests
  int64_t spent_micros = 0;  // settled cost, micro-USD
  // Leased by a node that stopped without returning it: counted as used, never given out again.
  int64_t lost_micros = 0;
  int64_t lost_requests = 0;
  // Held by running nodes right now (read only: the sum of the grant's leases).
  int64_t leased_micros = 0;
  int64_t leased_requests = 0;
  std::optional<std::string> notes;
  int64_t version = 1;
  std::string request_secret_hash;  // SHA-256 hex of the app's request secret
  // The owner who decided it (the operator for the owner token). While it waits: none for a request
  // any owner may decide (POST /grant-requests), else the owner whose sign-in started it (OAuth,
  // device flow), who alone (and the operator) may see and decide it.
  std::optional<std::string> owner_id;
  // Which of the owner's keys for its provider it spends (see vault/vault.hpp); set at approval.
  std::optional<std::string> key_label;
  // Asked by an app an owner added (CLI or /apps); false for POST /grant-requests and for clients
  // that registered themselves, whose name and home page are only what the app says of itself.
  bool verified = false;
  // A child grant (delegation, RFC 8693): its parent first, then the parent's parent, and so on;
  // empty for a grant an owner approved. Set when the child is made and never changed.
  std::vector<std::string> ancestors;
  // The OAuth app (its client_id) whose sign-in or device flow asked for it; none for POST
  // /grant-requests and for children. Removing the app revokes it. Set when it is made.
  std::optional<std::string> client_id;

  // Whether what it spends is bounded by a budget: its own, or an ancestor's (a child's spending
  // counts against its whole chain, and an owner may give a parent a budget after its child was
  // made). Where it is, policy bounds every call's cost.
  bool SpendsAgainstABudget() const { return budget_micros.has_value() || !ancestors.empty(); }
};

// Where a page of grants ends: the next page starts after it (newest first).
struct GrantCursor {
  UnixSeconds created_at = 0;
  std::string id;
};

struct GrantQuery {
  // Only what this owner may manage: their own grants and the requests no owner has decided yet.
  std::optional<std::string> owner_id;
  // Only unverified requests still waiting (pending, made after this time).
  std::optional<UnixSeconds> waiting_unverified_after;
  std::optional<GrantCursor> after;  // rows older than this one
  // Instead of `after`: the `limit` rows just newer than this one (still listed newest first), for
  // a page's "Newer" link.
  std::optional<GrantCursor> before;
  int64_t limit = 500;
};

class GrantStore {
 public:
  virtual ~GrantStore() = default;

  // Inserts a request and its pending grant together, or neither.
  virtual Status CreateGrantRequest(const GrantRequestRecord& request, const GrantRecord& grant) = 0;
  // kNotFound when there is no such grant.
  virtual Result<GrantRecord> GetGrant(std::string_view id) = 0;
  // Newest first (by created_at, then id), at most `query.limit` grants.
  virtual Result<std::vector<GrantRecord>> ListGrantPage(const GrantQuery& query) = 0;
  // How many unverified requests still wait for a decision (pending, made after `made_after`).
  virtual Result<int64_t> CountWaitingUnverified(UnixSeconds made_after) = 0;
  // Of those, the ones requested from `address` (GrantRequestRecord::requested_from).
  virtual Result<int64_t> CountWaitingUnverifiedFrom(std::string_view address, UnixSeconds made_after) = 0;
  // Every grant that is approved, for warming the grant cache at start.
  virtual Result<std::vector<GrantRecord>> ListApprovedGrants() = 0;
  // Writes every mutable field of `grant` and bumps its version, provided the stored version is
  // still `grant.version` (compare-and-set); kBadRequest "changed concurrently" otherwise.
  // Returns the stored grant.
  virtual Result<GrantRecord> UpdateGrant(const GrantRecord& grant) = 0;
  // How many grants a tree may hold below the grant at its top (the one an owner approved):
  // approved and unexpired at once, and ever.
  struct ChildBounds {
    int64_t live_descendants = 0;
    int64_t descendants = 0;
  };
  // Inserts a child grant (approved, `child.ancestors` naming its chain) and its request, provided
  // every grant of its chain is still approved and ends no sooner than the child (kUnauthorized
  // saying which does not) and `bounds` hold (kLimitReached saying which otherwise). The chain is
  // locked in id order meanwhile, so a revocation or an earlier end of any of it either sees the
  // child or makes this refuse, and children made at once below one grant count each other.
  virtual Status CreateChildGrant(const GrantRequestRecord& request, const GrantRecord& child, ChildBounds bounds,
                                  UnixSeconds now) = 0;
  // The ids of the grant's direct children, oldest first, at most `limit`.
  virtual Result<std::vector<std::string>> ListChildIds(std::string_view parent_id, int64_t limit) = 0;
  // The ids of the grants `client_id` asked for that wait or are approved, at most `limit`.
  virtual Result<std::vector<std::string>> ListLiveGrantsOfClient(std::string_view client_id, int64_t limit) = 0;
  // What a change of a grant does to the grants handed on below it.
  struct SubtreeChange {
    std::optional<UnixSeconds> revoked_at;  // revoke each descendant not revoked yet, at this time
    std::optional<UnixSeconds> ends_by;     // end each descendant that would outlive this time by then
  };
  struct TreeChange {
    GrantRecord grant;                     // as stored now
    std::vector<GrantRecord> descendants;  // those `carry` changed, as stored now
  };
  // UpdateGrant, and `carry` applied to the grant's descendants, in one transaction: the grant and
  // its subtree are locked in id order first (the order leases and settlements lock grants in), and
  // the change feed hears of each grant changed.
  virtual Result<TreeChange> UpdateGrantTree(const GrantRecord& grant, SubtreeChange carry) = 0;
  // Gives every decided grant that has no owner (decided with the owner token before owners
  // existed) to `owner_id`, the operator.
  virtual Status AdoptOwnerlessGrants(std::string_view owner_id) = 0;
  // Deletes requests nobody decided whose wait ended before `before` (their pending grants and
  // request rows), the oldest first, at most `limit` in one transaction; returns how many went.
  // Anyone may ask, so without this the requests that lapse would pile up for ever.
  virtual Result<int64_t> PruneLapsedRequests(UnixSeconds before, int64_t limit) = 0;
};

}  // namespace ap::store
