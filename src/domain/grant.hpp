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

// Parses the record's stored scope; a record whose scope cannot be read is an internal error.
Result<Grant> GrantFromRecord(store::GrantRecord record);

// What the owner and the app see: an approved grant past its expiry is expired.
GrantStatus EffectiveStatus(const store::GrantRecord& grant, UnixSeconds now);

// Why a grant cannot be used for a call right now, or nothing if it can.
std::optional<Error> UnusableReason(const store::GrantRecord& grant, UnixSeconds now);

}  // namespace ap::domain
