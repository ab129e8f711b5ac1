#include "record/audit_trail.hpp"

#include <spdlog/spdlog.h>

#include "crypto/hash.hpp"

namespace ap::record {
namespace {

// The hash of the trail's record 1 (empty for an empty trail), and whether its first row is a record
// 1 this key wrote: one altered, or a row put before it, would make the trail look like another
// database's, and the mark start again on it, hiding a cut end.
struct FirstRecord {
  std::string hash;
  bool genuine = true;
};

Result<FirstRecord> ReadFirstRecord(store::AuditStore& audit, std::string_view key) {
  store::AuditQuery first;
  first.oldest_first = true;
  first.limit = 1;
  auto records = audit.ListAudit(first);
  if (!records) return records.error();
  if (records->empty()) return FirstRecord{};
  const store::AuditRecord& r = records->front();
  bool genuine =
      r.seq == 1 && r.prev_hash == kGenesisHash && crypto::ConstantTimeEqual(LinkHash(key, kGenesisHash, r), r.hash);
  return FirstRecord{r.hash, genuine};
}

}  // namespace

Status AppendAudit(store::AuditStore& audit, std::string_view key, const std::vector<AuditEvent>& events, UnixMillis at,
                   AuditMark* mark, const std::string& actor) {
  if (events.empty()) return {};
  std::optional<SeenTrail> seen;
  std::string first_hash;
  if (mark) {
    auto read = mark->Read();
    if (read)
      seen = std::move(*read);
    else  // the trail is not held up for it: whoever can damage the file can remove it
      spdlog::error("{}; appending without it, and writing it anew", read.error().message);
    auto first = ReadFirstRecord(audit, key);
    if (!first) return first.error();
    first_hash = std::move(first->hash);
    if (!first->genuine && seen) {
      spdlog::error(
          "the audit trail's record 1 is not one this master key wrote (run 'aipassport audit verify'); the "
          "mark ({}) is kept as the trail's",
          mark->Path().string());
      first_hash = seen->first_hash;
    }
  }
  store::AuditHead written;
  auto appended = audit.AppendAudit([&](const std::optional<store::AuditHead>& head) {
    std::optional<AuditEvent> cut;
    if (seen && head && !first_hash.empty()) cut = CutBack(head, first_hash, *seen, actor);
    if (seen && (!head || first_hash != seen->first_hash))
      spdlog::warn(
          "the audit trail is not the one this machine last saw (it had reached seq {}): another database? "
          "The mark ({}) starts again on this one",
          seen->head.seq, mark->Path().string());
    if (cut)
      spdlog::error(
          "the audit trail's end was cut off: this machine saw it reach seq {}, and it ends at seq {}; "
          "recorded as {} (run 'aipassport audit verify')",
          seen->head.seq, head->seq, kAuditCutBack);
    std::vector<AuditEvent> linked_events;
    if (cut) linked_events.push_back(std::move(*cut));
    linked_events.insert(linked_events.end(), events.begin(), events.end());
    auto linked = Link(key, head, linked_events, at);
    if (!linked) return linked;
    written = linked->second;
    if (!head) first_hash = linked->first.front().hash;  // a trail begun now
    return linked;
  });
  if (!appended) return appended;
  if (mark && !first_hash.empty())
    if (auto kept = mark->Keep(SeenTrail{written, first_hash}); !kept)
      spdlog::error("audit events recorded, but {}", kept.error().message);  // the next append keeps it
  return {};
}

Result<ChainVerdict> VerifyAudit(store::AuditStore& audit, std::string_view key, const AuditMark* mark) {
  // The mark first: it is written after its append commits, so the trail read next reaches it.
  Result<std::optional<SeenTrail>> seen = mark ? mark->Read() : std::optional<SeenTrail>();
  auto trail = audit.ReadTrail();
  if (!trail) return trail.error();
  ChainVerdict verdict = VerifyChain(key, trail->records, trail->head);
  if (!seen) {
    verdict.unchecked = seen.error().message;
    return verdict;
  }
  if (verdict.broken || !*seen) return verdict;
  std::string first_hash = trail->records.empty() ? std::string() : trail->records.front().hash;
  if (first_hash != (*seen)->first_hash) {
    verdict.unchecked = "the audit mark " + mark->Path().string() +
                        " was taken of another trail (another database, or one emptied): its end was not checked";
    return verdict;
  }
  if (CutBack(trail->head, first_hash, **seen, ""))
    verdict.broken =
        ChainBreak{trail->head->seq + 1, "the trail's end was cut off: this machine saw it reach seq " +
                                             std::to_string((*seen)->head.seq) + " (" + mark->Path().string() + ")"};
  return verdict;
}

}  // namespace ap::record
