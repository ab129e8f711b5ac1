#include "record/audit_trail.hpp"

namespace ap::record {

Status AppendAudit(store::AuditStore& audit, std::string_view key, const std::vector<AuditEvent>& events,
                   UnixMillis at) {
  if (events.empty()) return {};
  return audit.AppendAudit([&](const std::optional<store::AuditHead>& head) { return Link(key, head, events, at); });
}

Result<ChainVerdict> VerifyAudit(store::AuditStore& audit, std::string_view key) {
  store::AuditQuery all;
  all.limit = 0;
  all.oldest_first = true;
  auto records = audit.ListAudit(all);
  if (!records) return records.error();
  auto head = audit.GetAuditHead();
  if (!head) return head.error();
  return VerifyChain(key, *records, *head);
}

}  // namespace ap::record
