#pragma once
// How far this machine has seen the audit trail go: the head (seq and hash) its broker or a command
// last appended, kept in a file beside the database (<data_dir>/audit-mark). The chain alone cannot
// tell its end cut off and an older head put back, when that head was once real (someone who can
// write the database may have read it then); someone who can only write the database cannot move
// the mark back. A head found behind the mark is recorded in the trail itself, as an
// `audit.cut_back` record before the next ones, and `audit verify` names it.
// Several brokers on PostgreSQL each keep their own mark: each sees a cut of what it had seen. A
// trail cut back and then appended to past the mark before this machine appends again is not seen.
// Thread-safety: none; used on one thread (the store thread, or a command).

#include <filesystem>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "record/audit_chain.hpp"
#include "store/record_store.hpp"

namespace ap::record {

class AuditMark {
 public:
  explicit AuditMark(std::filesystem::path path) : path_(std::move(path)) {}

  // The mark as last kept: none before the first append (or once the file was removed); kUnavailable
  // when the file cannot be read or is not a mark.
  Result<std::optional<store::AuditHead>> Read() const;
  // Keeps `head` as the mark: written whole beside it, then renamed over it.
  Status Keep(const store::AuditHead& head);
  const std::filesystem::path& Path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The `audit.cut_back` event to record first when the trail's `head` is behind `mark` (or, at the
// same seq, another): its detail names the mark's seq and hash and the head's seq. None otherwise.
std::optional<AuditEvent> CutBack(const std::optional<store::AuditHead>& head, const store::AuditHead& mark,
                                  std::string actor);

}  // namespace ap::record
