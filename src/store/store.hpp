#pragma once
// The Store: where grants, requests and settings live. SQLite now, PostgreSQL next; callers only
// see this interface. Methods block on I/O: call them from the store's worker thread
// (RunBlocking), never from an I/O thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "store/key_store.hpp"
#include "store/record_store.hpp"

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
  // The owner who decided it (the operator for the owner token); none while it waits.
  std::optional<std::string> owner_id;
  // Which of the owner's keys for its provider it spends (see vault/vault.hpp); set at approval.
  std::optional<std::string> key_label;
  // Asked by an app an owner added (CLI or /apps); false for POST /grant-requests and for clients
  // that registered themselves, whose name and home page are only what the app says of itself.
  bool verified = false;
};

// What one grant used on one UTC day with one model.
struct UsageRecord {
  std::string grant_id;
  std::string day;  // "2026-11-28"
  std::string model;
  int64_t requests = 0;
  int64_t input_tokens = 0;
  int64_t cached_input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t audio_milliseconds = 0;
  int64_t cost_micros = 0;
};

// A slice of a grant's remaining budget and requests that one node may spend without asking the
// store again. Until the node settles or returns it, it counts as used.
struct Lease {
  int64_t micros = 0;
  int64_t requests = 0;
};

// A grant's settled spend before and after one settlement (for threshold alerts).
struct SpendChange {
  std::string grant_id;
  int64_t before_micros = 0;
  int64_t after_micros = 0;
  std::optional<int64_t> budget_micros;
};

// Something that happened to a grant, for the owner's audit trail.
struct EventRecord {
  std::string grant_id;
  UnixSeconds at = 0;
  std::string kind;    // "budget_threshold", "lease_lost"
  std::string detail;  // JSON text
  int64_t id = 0;      // set by the store
};

// A person who owns grants and signs in to approve them.
struct OwnerRecord {
  std::string id;
  std::string username;
  std::string password_hash;  // argon2id string
  UnixSeconds created_at = 0;
};

// A signed-in browser. Only the SHA-256 of the session id (the cookie) is stored.
struct SessionRecord {
  std::string id_hash;
  std::string owner_id;
  std::string csrf_token;  // sent back with every form the session posts
  UnixSeconds created_at = 0;
  UnixSeconds last_seen_at = 0;
};

// An app registered to use the OAuth flows.
struct ClientRecord {
  std::string id;  // client_id
  std::string name;
  std::string home_url;
  std::string logo_url;
  std::vector<std::string> redirect_uris;  // compared exactly (a loopback one's port may vary)
  bool confidential = false;
  std::string secret_hash;  // SHA-256 hex of the secret, confidential clients only
  bool dpop_required = false;
  UnixSeconds created_at = 0;
  bool self_registered = false;  // RFC 7591: the app described itself; nobody vouched for it
};

// A one-time authorization code, stored by its SHA-256.
struct AuthorizationCodeRecord {
  std::string code_hash;
  std::string client_id;
  std::string redirect_uri;
  std::string code_challenge;  // S256
  std::string grant_id;
  UnixSeconds expires_at = 0;
};

// An opaque refresh token, stored by its SHA-256. Each use replaces it with a new one of the same
// family; a used or revoked one presented again gives itself away.
struct RefreshTokenRecord {
  std::string token_hash;
  std::string family_id;
  std::string grant_id;
  std::string client_id;
  UnixSeconds created_at = 0;
  std::string jkt;  // the DPoP key it is bound to (public clients); empty: not bound
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

// The refresh tokens an OAuth client was given for a grant, one rotation chain (family) summed up.
struct RefreshFamilyRecord {
  std::string family_id;
  std::string client_id;
  UnixSeconds started_at = 0;                    // its first token
  std::optional<UnixSeconds> last_refreshed_at;  // its latest use
  std::optional<UnixSeconds> revoked_at;         // set once the family stopped working
  int64_t tokens = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // The table groups, each behind its own small interface; same thread rules as the Store.
  virtual KeyStore& Keys() = 0;
  virtual ActivityStore& Activity() = 0;
  virtual AuditStore& Audit() = 0;

  // Inserts a request and its pending grant together, or neither.
  virtual Status CreateGrantRequest(const GrantRequestRecord& request, const GrantRecord& grant) = 0;
  // kNotFound when there is no such grant.
  virtual Result<GrantRecord> GetGrant(std::string_view id) = 0;
  // Newest first (by created_at, then id), at most `query.limit` grants.
  virtual Result<std::vector<GrantRecord>> ListGrantPage(const GrantQuery& query) = 0;
  // How many unverified requests still wait for a decision (pending, made after `made_after`).
  virtual Result<int64_t> CountWaitingUnverified(UnixSeconds made_after) = 0;
  // Every grant that is approved, for warming the grant cache at start.
  virtual Result<std::vector<GrantRecord>> ListApprovedGrants() = 0;
  // Writes every mutable field of `grant` and bumps its version, provided the stored version is
  // still `grant.version` (compare-and-set); kBadRequest "changed concurrently" otherwise.
  // Returns the stored grant.
  virtual Result<GrantRecord> UpdateGrant(const GrantRecord& grant) = 0;
  // Gives `node_id` at least `need` and at most `want` more of an approved grant's remaining
  // budget and requests (what neither settled, lost nor leased), in one transaction. A dimension
  // the grant does not limit is not leased (0). kLimitReached / kBudgetExceeded when `need` does
  // not fit; kUnauthorized when the grant is not approved.
  virtual Result<Lease> TakeLease(std::string_view grant_id, std::string_view node_id, Lease need, Lease want) = 0;
  // Gives back the unused part of a lease.
  virtual Status ReturnLease(std::string_view grant_id, std::string_view node_id, Lease unused) = 0;
  // Settles answered calls in one transaction: adds each row to its grant's row for that day and
  // model, adds the rows' requests and cost to the grant, and takes them out of the node's lease.
  // Returns each touched grant's spend before and after.
  virtual Result<std::vector<SpendChange>> Settle(std::string_view node_id, const std::vector<UsageRecord>& rows) = 0;
  // Notes that `node_id` is alive at `now`. Nodes not seen since `stale_before` are gone: their
  // leases become lost (counted as used) and an event says so. Returns how many leases were lost.
  virtual Result<int64_t> Heartbeat(std::string_view node_id, UnixSeconds now, UnixSeconds stale_before) = 0;
  // Removes the node (a clean stop). What it still holds belonged to calls the stop cut short: it
  // becomes lost, as for a node that vanished.
  virtual Status RetireNode(std::string_view node_id, UnixSeconds now) = 0;
  virtual Status AddEvent(const EventRecord& event) = 0;
  // Oldest first, at most `limit`, those after the event with id `after_id` (each has `id` set).
  virtual Result<std::vector<EventRecord>> ListEvents(std::string_view grant_id, int64_t after_id, int64_t limit) = 0;
  // Newest first, at most `limit`, those before the event with id `before_id` when given.
  virtual Result<std::vector<EventRecord>> ListRecentEvents(std::string_view grant_id,
                                                            std::optional<int64_t> before_id, int64_t limit) = 0;
  // The grant's rows, by day then model, at most `limit`, those after (`day`, `model`) of `after`.
  virtual Result<std::vector<UsageRecord>> ListUsage(std::string_view grant_id, const std::optional<UsageRecord>& after,
                                                     int64_t limit) = 0;
  // The grant's rows from UTC day `from_day` ("2026-11-28") on, by day then model, at most `limit`.
  virtual Result<std::vector<UsageRecord>> ListUsageFrom(std::string_view grant_id, std::string_view from_day,
                                                         int64_t limit) = 0;
  // The sum of all the grant's rows (grant_id set, day and model empty).
  virtual Result<UsageRecord> TotalUsage(std::string_view grant_id) = 0;
  // kBadRequest "already exists" when the username is taken.
  virtual Status CreateOwner(const OwnerRecord& owner) = 0;
  // kNotFound when there is no such owner.
  virtual Result<OwnerRecord> GetOwnerByName(std::string_view username) = 0;
  virtual Result<OwnerRecord> GetOwner(std::string_view id) = 0;
  // By username.
  virtual Result<std::vector<OwnerRecord>> ListOwners() = 0;
  // Gives every decided grant that has no owner (decided with the owner token before owners
  // existed) to `owner_id`, the operator.
  virtual Status AdoptOwnerlessGrants(std::string_view owner_id) = 0;
  // Sets a new password hash and ends every session of the owner; kNotFound if unknown.
  virtual Status SetOwnerPassword(std::string_view username, std::string_view password_hash) = 0;
  // Removes the owner and their sessions; kNotFound if unknown.
  virtual Status DeleteOwner(std::string_view username) = 0;

  virtual Status CreateSession(const SessionRecord& session) = 0;
  // kNotFound when there is no such session.
  virtual Result<SessionRecord> GetSession(std::string_view id_hash) = 0;
  virtual Status TouchSession(std::string_view id_hash, UnixSeconds now) = 0;
  virtual Status DeleteSession(std::string_view id_hash) = 0;

  // kBadRequest "already exists" when the id is taken.
  virtual Status CreateClient(const ClientRecord& client) = 0;
  // kNotFound when there is no such client.
  virtual Result<ClientRecord> GetClient(std::string_view id) = 0;
  virtual Result<std::vector<ClientRecord>> ListClients() = 0;
  // How many clients registered themselves (RFC 7591); they are bounded so that lists stay small.
  virtual Result<int64_t> CountSelfRegisteredClients() = 0;
  virtual Status DeleteClient(std::string_view id) = 0;
  // Replaces the client's name, home page, logo and redirect URIs (its id, secret and kind stay);
  // kNotFound when there is no such client.
  virtual Status UpdateClient(const ClientRecord& client) = 0;

  virtual Status CreateAuthorizationCode(const AuthorizationCodeRecord& code) = 0;
  // Marks the code used, in one atomic step: of two concurrent redemptions exactly one gets the
  // code; the other learns it was a replay and of which grant. kNotFound for an unknown code.
  struct Redeemed {
    std::optional<AuthorizationCodeRecord> code;   // set when this call redeemed it
    std::optional<std::string> replayed_grant_id;  // set when it had been redeemed before
  };
  virtual Result<Redeemed> RedeemAuthorizationCode(std::string_view code_hash, UnixSeconds now) = 0;

  virtual Status CreateRefreshToken(const RefreshTokenRecord& token) = 0;
  // Marks the token used, atomically. `fresh` is set when this call used it; `reused` when it had
  // been used or revoked before (the caller then ends its family). kNotFound for an unknown token.
  struct RefreshUse {
    std::optional<RefreshTokenRecord> fresh;
    std::optional<RefreshTokenRecord> reused;
  };
  virtual Result<RefreshUse> UseRefreshToken(std::string_view token_hash, UnixSeconds now) = 0;
  // kNotFound for an unknown token.
  virtual Result<RefreshTokenRecord> GetRefreshToken(std::string_view token_hash) = 0;
  // The grant's refresh token families, the latest started first, at most `limit`.
  virtual Result<std::vector<RefreshFamilyRecord>> ListRefreshFamilies(std::string_view grant_id, int64_t limit) = 0;
  // Every token of the family stops working.
  virtual Status RevokeRefreshFamily(std::string_view family_id, UnixSeconds now) = 0;

  virtual Result<std::optional<std::string>> GetSetting(std::string_view key) = 0;
  virtual Status PutSetting(std::string_view key, std::string_view value) = 0;
};

}  // namespace ap::store
