#pragma once
// The audit trail's events as the broker's handlers raise them: who acted, what happened, to which
// grant and owner. Each helper only queues (ctx.audit.Record); none waits.

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "api/auth.hpp"
#include "api/broker_context.hpp"
#include "record/audit_chain.hpp"

namespace ap::api {

// The event kinds, as `GET /audit?kind=` and the exports name them.
namespace audit_kind {
inline constexpr std::string_view kGrantRequested = "grant.requested";
inline constexpr std::string_view kGrantApproved = "grant.approved";
inline constexpr std::string_view kGrantDenied = "grant.denied";
inline constexpr std::string_view kGrantLimitsChanged = "grant.limits_changed";
inline constexpr std::string_view kGrantRevoked = "grant.revoked";
inline constexpr std::string_view kGrantDelegated = "grant.delegated";  // an app made a child of its grant
inline constexpr std::string_view kGrantExpired = "grant.expired";
inline constexpr std::string_view kGrantExhausted = "grant.exhausted";
inline constexpr std::string_view kTokenIssued = "token.issued";
inline constexpr std::string_view kTokenRefreshed = "token.refreshed";
inline constexpr std::string_view kRefreshReused = "token.refresh_reuse_detected";
inline constexpr std::string_view kOwnerSignedIn = "owner.signed_in";
inline constexpr std::string_view kOwnerSignInFailed = "owner.sign_in_failed";
inline constexpr std::string_view kOwnerPasswordChanged = "owner.password_changed";
inline constexpr std::string_view kOwnerAdded = "owner.added";
inline constexpr std::string_view kOwnerRemoved = "owner.removed";
inline constexpr std::string_view kOwnerTokenReset = "owner_token.reset";
inline constexpr std::string_view kClientAdded = "client.added";
inline constexpr std::string_view kClientRemoved = "client.removed";
inline constexpr std::string_view kClientChanged = "client.changed";
inline constexpr std::string_view kKeyAdded = "key.added";
inline constexpr std::string_view kKeyRotated = "key.rotated";  // a key replaced another under its label
inline constexpr std::string_view kKeyRemoved = "key.removed";
inline constexpr std::string_view kMasterKeyRotated = "vault.master_key_rotated";
inline constexpr std::string_view kSigningKeyAdded = "vault.signing_key_added";  // keys rotate-signing
inline constexpr std::string_view kAuditCutBack = record::kAuditCutBack;         // the trail's end was found cut off
inline constexpr std::string_view kAll[] = {
    kGrantRequested,    kGrantApproved,        kGrantDenied, kGrantLimitsChanged, kGrantRevoked,    kGrantDelegated,
    kGrantExpired,      kGrantExhausted,       kTokenIssued, kTokenRefreshed,     kRefreshReused,   kOwnerSignedIn,
    kOwnerSignInFailed, kOwnerPasswordChanged, kOwnerAdded,  kOwnerRemoved,       kOwnerTokenReset, kClientAdded,
    kClientRemoved,     kClientChanged,        kKeyAdded,    kKeyRotated,         kKeyRemoved,      kMasterKeyRotated,
    kSigningKeyAdded,   kAuditCutBack};
}  // namespace audit_kind

// An empty `kind` (any), or one of audit_kind::kAll; else kBadRequest naming them all.
Status CheckAuditKind(std::string_view kind);

// "owner:<name>" or "admin-token".
std::string ActorOf(const Caller& caller);

// An event about `grant`: it concerns the grant's owner (none while it waits for one).
record::AuditEvent GrantEvent(std::string_view kind, std::string actor, const store::GrantRecord& grant,
                              boost::json::object detail = {});

// An event about a provider key of its owner: never the key, only its provider, label and hint.
record::AuditEvent KeyEvent(std::string_view kind, std::string actor, const store::ProviderKeyRecord& key);

// A sign-in: `owner` signed in from `address`.
void RecordSignIn(BrokerContext& ctx, const store::OwnerRecord& owner, const std::string& address);
// A failed sign-in as `username` from `address`. The owner is looked up on the store thread (this
// never waits); a name that is no owner's is not kept (it is often a password typed in the wrong field).
void RecordSignInFailed(BrokerContext& ctx, const std::string& username, const std::string& address);

// What changed between `before` and `after` of one ChangeGrant, as events (approved with what was
// narrowed from what was asked, denied, revoked, limits changed): queued on ctx.audit.
// `actor` overrides ActorOf(caller) when set; `because`, when set, says why a revocation was made.
void RecordGrantChange(BrokerContext& ctx, const Caller& caller, const store::GrantRecord& before,
                       const store::GrantRecord& after, std::string actor = "", std::string because = "");

}  // namespace ap::api
