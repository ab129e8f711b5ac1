#pragma once
// A grant as the domain sees it: the stored record plus its parsed scope.

#include "core/time.hpp"
#include "domain/scope.hpp"
#include "store/store.hpp"

namespace ap::domain {

using store::GrantStatus;

struct Grant {
  store::GrantRecord record;
  Scope scope;
};

// Stores `scope` in the record, with the limits the store enforces copied out of it.
void SetScope(store::GrantRecord& record, const Scope& scope);

// Parses the record's stored scope; a record whose scope cannot be read is an internal error.
Result<Grant> GrantFromRecord(store::GrantRecord record);

// How long a request may wait for the owner's decision (the reference's 3600 s was never
// enforced; we enforce a day).
inline constexpr int64_t kPendingLifetimeSeconds = 24 * 3600;

// Delegation: at most this many grants below one grant an owner approved are approved and
// unexpired at once, however deep (budgets, caps, per-minute limits and calls at once hold for the
// whole tree: metering::Meter::AdmitAtOnce), and at most this many grants ever made below it (so
// an app cannot grow the grants table without end).
inline constexpr int64_t kMaxLiveDescendants = 50;
inline constexpr int64_t kMaxDescendants = 1000;

// Whether the settled (or lost) spend or requests have reached the grant's budget or cap.
bool IsExhausted(const store::GrantRecord& grant);

// What the owner and the app see: an approved or pending grant past its expiry is expired, one
// whose budget or cap is used up exhausted.
GrantStatus EffectiveStatus(const store::GrantRecord& grant, UnixSeconds now);

// Why a grant cannot be used for a call right now (in the reference's words), or nothing if it can.
std::optional<Error> UnusableReason(const store::GrantRecord& grant, UnixSeconds now);

// A new request and its pending grant, lapsing after kPendingLifetimeSeconds undecided.
struct NewRequest {
  store::GrantRequestRecord request;
  store::GrantRecord grant;
};
NewRequest MakeGrantRequest(std::string app_name, std::string app_url, std::string reason, const Scope& scope,
                            std::string request_secret_hash, UnixSeconds now);

}  // namespace ap::domain
