#pragma once
// `aipassport activity export|prune` and `aipassport audit verify|export`, on the data directory
// (also while the broker runs), and the audit events that commands themselves raise.

#include <filesystem>
#include <optional>
#include <string>

#include "app/config.hpp"
#include "record/audit_chain.hpp"
#include "store/store.hpp"

namespace ap::app {

struct RecordCommand {
  std::string what;    // activity, audit
  std::string action;  // export, prune, verify
  std::string format = "jsonl";  // export: jsonl or csv
  std::optional<std::string> from;  // export: ISO 8601
  std::optional<std::string> to;
  std::optional<std::string> kind;  // audit export
};

// Returns the process exit code; failures are printed. `audit verify` exits 0 on an intact trail,
// 1 naming the first record (by seq) that was edited, removed or reordered, or the truncation, and
// 3 on an intact trail that records a cut of its end (audit.cut_back).
int RunRecordCommand(const Config& config, const RecordCommand& command);

// The audit trail's key, from the configured master key (see OpenMasterKey).
Result<std::string> AuditKey(const Config& config, store::Store& store);
// Where this machine keeps how far it has seen the audit trail go (record/audit_mark.hpp).
std::filesystem::path AuditMarkPath(const Config& config);
// Appends `event` (by actor "cli" unless it says otherwise) to the trail, synchronously, checked
// against and moving this machine's mark.
Status RecordAuditEvent(const Config& config, const std::string& key, store::Store& store, record::AuditEvent event);
// The same for several events, in one append.
Status RecordAuditEvents(const Config& config, const std::string& key, store::Store& store,
                         std::vector<record::AuditEvent> events);

}  // namespace ap::app
