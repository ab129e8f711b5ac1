#pragma once
// The audit trail's hash chain. Each record's hash is HMAC-SHA-256, under the audit key (random,
// sealed under the vault's master key), over the previous record's hash and the record itself; the
// head (the last seq and hash) is kept apart with its own MAC. Someone who can edit the database but
// cannot read the master key can therefore neither rebuild the chain after a change nor move the
// head back to hide a cut. A whole older copy (trail and head) put back is not detectable here: it
// takes a copy of the head kept elsewhere. Pure functions: no I/O.
// Thread-safety: stateless.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "store/record_store.hpp"

namespace ap::record {

// What MasterKey::Derive is given for the chain's key.
inline constexpr std::string_view kAuditKeyPurpose = "audit-chain";
// The kind of the record a broker or a command appends first when it finds the trail's end behind
// where it had seen it go (record/audit_mark.hpp): `audit verify` names it as a break.
inline constexpr std::string_view kAuditCutBack = "audit.cut_back";
// The previous hash of the first record.
inline const std::string kGenesisHash(64, '0');

// Something that happened, before it is linked into the chain.
struct AuditEvent {
  AuditEvent() = default;
  AuditEvent(std::string kind, std::string actor, std::string owner_id, std::string grant_id, std::string detail = "{}",
             std::optional<UnixMillis> at = std::nullopt)
      : kind(std::move(kind)),
        actor(std::move(actor)),
        owner_id(std::move(owner_id)),
        grant_id(std::move(grant_id)),
        detail(std::move(detail)),
        at(at) {}

  std::string kind;      // "grant.approved", ...
  std::string actor;     // "owner:<name>", "admin-token", "app:<client or grant>", "cli", "broker"
  std::string owner_id;  // the owner it concerns; empty: none
  std::string grant_id;  // empty: none
  std::string detail = "{}";  // a JSON object, as text
  // When it happened (AuditLog::Record stamps it): an append that waited for the store (an outage)
  // still files it at its time. None: when it is appended.
  std::optional<UnixMillis> at;
};

// The bytes a record's hash covers: every field but the hashes, each length-prefixed, so no two
// different records share them.
std::string CanonicalRecord(const store::AuditRecord& record);
// Hex HMAC-SHA-256(key, prev_hash + canonical record).
std::string LinkHash(std::string_view key, std::string_view prev_hash, const store::AuditRecord& record);
// The head after `seq` with `hash`, with its MAC.
store::AuditHead SealHead(std::string_view key, int64_t seq, std::string hash);

// The records that follow `head` (none: an empty trail) for `events`, each at its own time or else
// at `at`, and the new head. kUnavailable when the stored head cannot be read (the trail needs `audit verify`).
Result<std::pair<std::vector<store::AuditRecord>, store::AuditHead>> Link(std::string_view key,
                                                                           const std::optional<store::AuditHead>& head,
                                                                           const std::vector<AuditEvent>& events,
                                                                           UnixMillis at);

// Where a trail stops being what was written.
struct ChainBreak {
  int64_t seq = 0;      // the first record that was edited, removed or moved (or is missing at the end)
  std::string problem;  // a sentence naming it
};

struct ChainVerdict {
  int64_t records = 0;  // how many were checked
  // The first record (kAuditCutBack) saying the trail's end had been found cut off before it: the
  // chain is whole, but records were lost.
  std::optional<ChainBreak> recorded_cut;
  std::string unchecked;  // why the trail's end was not checked against this machine's mark
  std::optional<ChainBreak> broken;
};

// Checks `records` (the whole trail, ordered by seq) against each other and against `head`, and
// finds the first recorded cut (kAuditCutBack).
ChainVerdict VerifyChain(std::string_view key, const std::vector<store::AuditRecord>& records,
                         const std::optional<store::AuditHead>& head);

}  // namespace ap::record
