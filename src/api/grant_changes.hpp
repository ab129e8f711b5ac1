#pragma once
// The one way a grant's status or limits change (approve, deny, revoke, new limits, from the API or
// the pages): read, check, compare-and-set write on the store thread, then the grant cache learns
// the new version, so the very next proxied call sees it. A change that leaves the status and the
// scope as they were writes nothing.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/auth.hpp"
#include "api/broker_context.hpp"
#include "domain/grant.hpp"

namespace ap::api {

// Edits the record in place, or refuses.
using GrantChange = std::function<Status(store::GrantRecord& grant, UnixSeconds now)>;

// The reference's wording: "Grant is 'approved', must be 'pending'".
Error WrongStatus(store::GrantStatus status, std::string_view wanted);

// Whether nothing waits for a pending grant any more: an app's OAuth sign-in waits ten minutes and a
// device's code its own lifetime, while the pending grant lasts a day; approved after they end, it
// would reach nobody, so Approve refuses it (kNobodyWaits). A reference request (POST
// /grant-requests) is fetched with its secret whenever it is decided. On the store thread, and from
// any other.
Result<bool> NobodyWaits(store::Store& s, const store::GrantRecord& g, UnixSeconds now);
boost::asio::awaitable<Result<bool>> NobodyWaits(BrokerContext& ctx, const store::GrantRecord& g);
inline constexpr const char* kNobodyWaits =
    "The app stopped waiting for this request before it was decided, so approving it now would reach nobody. "
    "Deny it; the app can ask again.";

// The label of the key a grant for `provider` will spend when `owner_id` approves it: `asked` if
// they hold a key so labelled, else (when `asked` is empty) their first; none for a keyless
// server. kKeyMissing when they hold no key for the provider (approving needs one first);
// kValidation when they hold none labelled `asked`.
Result<std::optional<std::string>> ChooseKeyLabel(const BrokerContext& ctx, std::string_view owner_id,
                                                  std::string_view provider, std::string_view asked);

// The changes, for the API and the pages alike. Approve and Deny take a pending grant only, with
// the reference's wording ("Grant is 'approved', must be 'pending'"). Approve makes the grant the
// approving owner's (the operator's for the owner token), binds it to one of their keys
// (ChooseKeyLabel with `asked_label`) and, given a narrowed scope, grants that instead of what
// was asked. Revoke works from any status and is idempotent: one click always ends it.
GrantChange Approve(const BrokerContext& ctx, std::string owner_id, std::string asked_label, int64_t seconds,
                    std::optional<domain::Scope> narrowed = {});
GrantChange Deny();
GrantChange Revoke();
// A grant's limits, as bits of a LimitSet, in the order of the reference's fields (maxBudgetCents,
// maxRequests, rateLimit, maxTokensPerMinute, maxConcurrent).
enum class Limit : unsigned { kBudget = 1, kRequests = 2, kRate = 4, kTokensPerMinute = 8, kConcurrent = 16 };
using LimitSet = unsigned;
inline constexpr LimitSet kEveryLimit = 31;
// Sets the limits in `which` to `scope`'s (its provider, models and capabilities stay as granted).
// The others keep what the grant holds when the change is applied, not what it held when the change
// was asked for: a change made meanwhile (on this broker or another) to a limit this one leaves out
// stands. Raising a used-up budget or cap reopens an exhausted grant.
GrantChange SetLimits(domain::Scope limits, LimitSet which = kEveryLimit);
// Moves an approved grant's end to `ends_at`, which must be between now and its current end.
GrantChange EndSooner(UnixSeconds ends_at);

// One page of the revocation of the grants the OAuth app `client_id` asked for that wait or are
// approved, whoever's they are (the app is being removed), with their descendants: at most
// kPage, each in a transaction of its own. On the store thread (a job a page, so that the calls'
// leases do not wait behind them all), or on a command's own store.
struct RevokedPage {
  static constexpr int64_t kPage = 500;
  std::vector<store::GrantRecord> grants;  // revoked, each root before its descendants
  bool more = false;                       // a whole page was read: call again
  std::optional<Error> error;              // what stopped it; `grants` were revoked before
};
RevokedPage RevokeGrantsOfClient(store::Store& s, std::string_view client_id, UnixSeconds now);
// The audit event of a grant RevokeGrantsOfClient revoked, by `actor`.
record::AuditEvent RevokedWithClient(const store::GrantRecord& grant, std::string_view client_id, std::string actor);
// Adds to an audit record's detail how many grants a removal revoked (`revokedGrants`) and the first
// 100 of them (`revokedGrantIds`).
void NoteRevokedGrants(boost::json::object& detail, const std::vector<std::string>& revoked_ids);
// The detail of `client.removed`: the app, how many grants went with it, and the first 100 of them.
boost::json::object RemovedClientDetail(std::string_view client_id, const std::vector<store::GrantRecord>& revoked);

// Counts `answers` more provider answers of `grant` that quoted its key, against the grant an owner
// approved (the root of its delegation tree: every child spends the same key, and a revoked child
// is replaced by exchanging again), and revokes that grant, its tree with it, once the tree's
// answers have quoted the key too often (KeyLeakGuard). The audit trail names the broker as the actor.
boost::asio::awaitable<void> RevokeIfQuoting(BrokerContext& ctx, const store::GrantRecord& grant, int answers);

// kNotFound for a grant the caller may not manage, as for one that does not exist. What changed
// goes to the audit trail, by `actor` (default: the caller), a revocation with `because` when set.
boost::asio::awaitable<Result<domain::Grant>> ChangeGrant(BrokerContext& ctx, std::string id, Caller caller,
                                                          GrantChange change, std::string actor = "",
                                                          std::string because = "");

// Which waiting requests to deny at once: those with the given ids, or every unverified one.
struct WaitingSelection {
  std::vector<std::string> ids;
  bool all_unverified = false;
};
// Denies every selected request that is still waiting and that `caller` may manage, in one pass on
// the store thread; answers the ids it denied (others are left out, not refused).
boost::asio::awaitable<Result<std::vector<std::string>>> DenyWaiting(BrokerContext& ctx, Caller caller,
                                                                     WaitingSelection selection);

}  // namespace ap::api
