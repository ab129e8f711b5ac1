#include "record/audit_trail.hpp"

#include <spdlog/spdlog.h>

namespace ap::record {

Status AppendAudit(store::AuditStore& audit, std::string_view key, const std::vector<AuditEvent>& events, UnixMillis at,
                   AuditMark* mark, const std::string& actor) {
  if (events.empty()) return {};
  std::optional<store::AuditHead> seen;
  if (mark) {
    auto read = mark->Read();
    if (read)
      seen = std::move(*read);
    else  // the trail is not held up for it: whoever can damage the file can remove it
      spdlog::error("{}; appending without it, and writing it anew", read.error().message);
  }
  store::AuditHead written;
  auto appended = audit.AppendAudit([&](const std::optional<store::AuditHead>& head) {
    std::optional<AuditEvent> cut = seen ? CutBack(head, *seen, actor) : std::nullopt;
    if (!cut) {
      auto linked = Link(key, head, events, at);
      if (linked) written = linked->second;
      return linked;
    }
    spdlog::error(
        "the audit trail's end was cut off: this machine saw it reach seq {}, and it ends at seq {}; "
        "recorded as {} (run 'aipassport audit verify')",
        seen->seq, head ? head->seq : 0, kAuditCutBack);
    std::vector<AuditEvent> with_cut{*cut};
    with_cut.insert(with_cut.end(), events.begin(), events.end());
    auto linked = Link(key, head, with_cut, at);
    if (linked) written = linked->second;
    return linked;
  });
  if (!appended) return appended;
  if (mark)
    if (auto kept = mark->Keep(written); !kept)
      spdlog::error("audit events recorded, but {}", kept.error().message);  // the next append keeps it
  return {};
}

Result<ChainVerdict> VerifyAudit(store::AuditStore& audit, std::string_view key, const AuditMark* mark) {
  auto trail = audit.ReadTrail();
  if (!trail) return trail.error();
  ChainVerdict verdict = VerifyChain(key, trail->records, trail->head);
  if (verdict.broken || !mark) return verdict;
  auto seen = mark->Read();
  if (!seen) return seen.error();
  if (*seen && CutBack(trail->head, **seen, ""))
    verdict.broken = ChainBreak{trail->head ? trail->head->seq + 1 : 1,
                                "the trail's end was cut off: this machine saw it reach seq " +
                                    std::to_string((*seen)->seq) + " (" + mark->Path().string() + ")"};
  return verdict;
}

}  // namespace ap::record
