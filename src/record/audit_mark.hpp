#pragma once
// How far this machine has seen the audit trail go: the head (seq and hash) its broker or a command
// last appended, and the trail's first record (which trail it is), kept in a file beside the
// database (<data_dir>/audit-mark). The chain alone cannot tell its end cut off and an older head
// put back, when that head was once real (someone who can write the database may have read it
// then); someone who can only write the database cannot move the mark back. A head found behind
// the mark on the same trail is recorded in the trail itself, as an `audit.cut_back` record before
// the next ones, and `audit verify` names it. Another trail (a new database under this data
// directory, an emptied one) is not a cut: the mark starts again on it, with a warning.
// Several brokers on PostgreSQL each keep their own mark: each sees a cut of what it had seen. A
// trail cut back and then appended to past the mark before this machine appends again is not seen.
// Thread-safety: none; used on one thread (the store thread, or a command). Writers on one data
// directory (a broker and a command) each write a file of their own and rename it over the mark.

#include <filesystem>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "record/audit_chain.hpp"
#include "store/record_store.hpp"

namespace ap::record {

struct SeenTrail {
  store::AuditHead head;   // seq and hash (no MAC)
  std::string first_hash;  // the hash of the trail's record 1
};

class AuditMark {
 public:
  explicit AuditMark(std::filesystem::path path) : path_(std::move(path)) {}

  // The mark as last kept: none before the first append (or once the file was removed); kUnavailable
  // when the file cannot be read or is not a mark.
  Result<std::optional<SeenTrail>> Read() const;
  // Keeps `seen` as the mark: written whole in a file of its own beside it, then renamed over it.
  Status Keep(const SeenTrail& seen);
  const std::filesystem::path& Path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The `audit.cut_back` event to record first when the trail whose record 1 has `first_hash` and
// whose head is `head` is the one `seen` was taken of, and its head is behind it (or, at the same
// seq, another): its detail names the seen seq and hash and the head's seq. None otherwise.
std::optional<AuditEvent> CutBack(const std::optional<store::AuditHead>& head, std::string_view first_hash,
                                  const SeenTrail& seen, std::string actor);

}  // namespace ap::record
