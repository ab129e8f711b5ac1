#pragma once
// Delegation that narrows (RFC 8693 token exchange): an app whose grant allows it hands one of its
// own agents a child grant strictly inside its own. The child's provider, models, capabilities,
// per-minute limits and delegation depth are at most its parent's; its budget and request cap at
// most what the parent has left; its lifetime at most the parent's remaining. What a child spends,
// its ancestors spend too (the store leases from the whole chain), so a tree never spends more
// than any of its grants allows.

#include <optional>
#include <string>

#include "core/time.hpp"
#include "domain/grant.hpp"
#include "oauth/authorization_details.hpp"

namespace ap::oauth {

// `asked` with the per-minute limits and the calls at once it does not name taken from `parent`: a
// child runs at most as fast as its parent unless it asks for less. (Budget and request cap are
// never filled in: a child names what it may spend.)
AccessRequest WithParentPace(AccessRequest asked, const domain::Grant& parent);

// Where `asked` reaches beyond what `parent` may hand on at `now`, as a sentence; nullopt when it
// fits.
std::optional<std::string> BeyondParent(const AccessRequest& asked, const domain::Grant& parent, UnixSeconds now);

// The child grant `asked` describes, approved at `now`: owned by its parent's owner, spending the
// same key, ending with its asked lifetime, its parent, or `ends_by` (the expiry of the token it
// was exchanged for), whichever comes first.
domain::NewRequest MakeChildGrant(const AccessRequest& asked, const domain::Grant& parent, UnixSeconds now,
                                  UnixSeconds ends_by);

}  // namespace ap::oauth
