#include "app/record_commands.hpp"

#include <boost/json.hpp>
#include <cstdio>

#include "api/audit_events.hpp"
#include "api/record_upkeep.hpp"
#include "app/broker.hpp"
#include "app/failure.hpp"
#include "app/vault_commands.hpp"
#include "record/audit_trail.hpp"
#include "record/record_json.hpp"
#include "vault/sealing.hpp"

namespace ap::app {
namespace {

// Rows read per query while exporting, so an export of any size runs in bounded memory.
constexpr int64_t kExportPage = 1000;

void Print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

Result<std::optional<UnixMillis>> TimeOption(const std::optional<std::string>& text, const char* name) {
  if (!text) return std::optional<UnixMillis>();
  auto at = ParseIso8601Millis(*text);
  if (!at) return MakeError(Errc::kValidation, std::string("--") + name + " must be an ISO 8601 time or date");
  return std::optional<UnixMillis>(*at);
}

int ExportActivity(store::Store& store, const RecordCommand& command, std::optional<UnixMillis> from,
                   std::optional<UnixMillis> to) {
  bool csv = command.format == "csv";
  if (csv) Print(record::ActivityCsvHeader());
  store::ActivityQuery query;
  query.from = from;
  query.to = to;
  query.limit = kExportPage;
  for (;;) {
    auto rows = store.Activity().ListActivity(query);
    if (!rows) return Fail(rows.error());
    for (const auto& r : *rows)
      Print(csv ? record::ActivityCsvLine(r) : boost::json::serialize(record::ActivityToJson(r)) + "\n");
    if (static_cast<int64_t>(rows->size()) < kExportPage) return 0;
    query.after = store::RecordCursor{rows->back().at, rows->back().id};
  }
}

int ExportAudit(store::Store& store, const RecordCommand& command, std::optional<UnixMillis> from,
                std::optional<UnixMillis> to) {
  if (auto known = api::CheckAuditKind(command.kind.value_or("")); !known) return Fail(known.error());
  bool csv = command.format == "csv";
  if (csv) Print(record::AuditCsvHeader());
  store::AuditQuery query;
  query.from = from;
  query.to = to;
  query.kind = command.kind;
  query.limit = kExportPage;
  query.oldest_first = true;
  for (;;) {
    auto records = store.Audit().ListAudit(query);
    if (!records) return Fail(records.error());
    for (const auto& r : *records)
      Print(csv ? record::AuditCsvLine(r) : boost::json::serialize(record::AuditToJson(r)) + "\n");
    if (static_cast<int64_t>(records->size()) < kExportPage) return 0;
    query.after_seq = records->back().seq;
  }
}

int VerifyTrail(const Config& config, store::Store& store) {
  auto key = AuditKey(config, store);
  if (!key) return Fail(key.error());
  record::AuditMark mark(AuditMarkPath(config));
  auto verdict = record::VerifyAudit(store.Audit(), *key, &mark);
  if (!verdict) return Fail(verdict.error());
  if (!verdict->unchecked.empty()) std::fprintf(stderr, "aipassport: warning: %s\n", verdict->unchecked.c_str());
  if (verdict->broken) {
    std::printf("audit trail BROKEN at seq %lld: %s\n", static_cast<long long>(verdict->broken->seq),
                verdict->broken->problem.c_str());
    return 1;
  }
  if (verdict->recorded_cut) {  // whole, but records were lost: said apart from a break
    std::printf("audit trail intact: %lld records, but %s\n", static_cast<long long>(verdict->records),
                verdict->recorded_cut->problem.c_str());
    return 3;
  }
  std::printf("audit trail intact: %lld records\n", static_cast<long long>(verdict->records));
  return 0;
}

}  // namespace

Result<std::string> AuditKey(const Config& config, store::Store& store) {
  auto master = OpenMasterKey(config, store);
  if (!master) return master.error();
  return vault::AuditChainKey(*master, store.Keys());
}

std::filesystem::path AuditMarkPath(const Config& config) {
  return std::filesystem::path(config.data_dir) / "audit-mark";
}

Status RecordAuditEvent(const Config& config, const std::string& key, store::Store& store, record::AuditEvent event) {
  std::vector<record::AuditEvent> events;
  events.push_back(std::move(event));
  return RecordAuditEvents(config, key, store, std::move(events));
}

Status RecordAuditEvents(const Config& config, const std::string& key, store::Store& store,
                         std::vector<record::AuditEvent> events) {
  for (auto& event : events)
    if (event.actor.empty()) event.actor = "cli";
  record::AuditMark mark(AuditMarkPath(config));
  return record::AppendAudit(store.Audit(), key, std::move(events), SystemNowMillis(), &mark, "cli");
}

int RunRecordCommand(const Config& config, const RecordCommand& command) {
  if (command.format != "jsonl" && command.format != "csv") return Misused("--format must be jsonl or csv");
  auto from = TimeOption(command.from, "from");
  if (!from) return Fail(from.error());
  auto to = TimeOption(command.to, "to");
  if (!to) return Fail(to.error());
  if (auto ok = PrepareDataDir(config.data_dir); !ok) return Fail(ok.error());
  auto store = OpenConfiguredStore(config);
  if (!store) return Fail(store.error());
  if (command.what == "activity" && command.action == "export") return ExportActivity(**store, command, *from, *to);
  if (command.what == "activity" && command.action == "prune") {
    UnixMillis before = SystemNowMillis() - config.activity_retention_days * 86400 * 1000;
    auto pruned = api::PruneActivityBefore((*store)->Activity(), before, api::RecordUpkeep::kActivityPage);
    if (!pruned) return Fail(pruned.error());
    std::printf("pruned %lld activity rows older than %lld days\n", static_cast<long long>(*pruned),
                static_cast<long long>(config.activity_retention_days));
    return 0;
  }
  if (command.what == "audit" && command.action == "export") return ExportAudit(**store, command, *from, *to);
  if (command.what == "audit" && command.action == "verify") return VerifyTrail(config, **store);
  return Misused("unknown command " + command.what + " " + command.action);
}

}  // namespace ap::app
