#include "record/audit_trail.hpp"

namespace ap::record {

Status AppendAudit(store::AuditStore& audit, std::string_view key, const std::vector<AuditEvent>& events,
                   UnixMillis at) {
  if (events.empty()) return {};
  return audit.AppendAudit([&](const std::optional<store::AuditHead>& head) { return Link(key, head, events, at); });
}

Result<ChainVerdict> VerifyAudit(store::AuditStore& audit, std::string_view key) {
  auto trail = audit.ReadTrail();
  if (!trail) return trail.error();
  return VerifyChain(key, trail->records, trail->head);
}

}  // namespace ap::record
