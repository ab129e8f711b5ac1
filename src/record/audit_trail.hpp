#pragma once
// The audit trail on a store: appending events as links of the chain, and checking the whole
// chain. Both block on the store: call them on the store thread, or from a command.
// Thread-safety: as the store given.

#include <string>
#include <string_view>
#include <vector>

#include "record/audit_chain.hpp"
#include "record/audit_mark.hpp"
#include "store/record_store.hpp"

namespace ap::record {

// Appends `events` in order, in one transaction, at `at`. With a `mark`: a trail found cut back
// behind it is recorded first (an `audit.cut_back` record by `actor`, and an error in the log),
// and the new head is kept as the mark. A mark that cannot be read or kept is logged, not fatal.
Status AppendAudit(store::AuditStore& audit, std::string_view key, const std::vector<AuditEvent>& events, UnixMillis at,
                   AuditMark* mark = nullptr, const std::string& actor = "broker");
// Reads the whole trail and its head and checks them, and, with a `mark`, that the trail goes as
// far as the mark.
Result<ChainVerdict> VerifyAudit(store::AuditStore& audit, std::string_view key, const AuditMark* mark = nullptr);

}  // namespace ap::record
