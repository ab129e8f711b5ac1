#pragma once
// The audit trail on a store: appending events as links of the chain, and checking the whole
// chain. Both block on the store: call them on the store thread, or from a command.
// Thread-safety: as the store given.

#include <string_view>
#include <vector>

#include "record/audit_chain.hpp"
#include "store/record_store.hpp"

namespace ap::record {

// Appends `events` in order, in one transaction, at `at`.
Status AppendAudit(store::AuditStore& audit, std::string_view key, const std::vector<AuditEvent>& events,
                   UnixMillis at);
// Reads the whole trail and its head and checks them.
Result<ChainVerdict> VerifyAudit(store::AuditStore& audit, std::string_view key);

}  // namespace ap::record
