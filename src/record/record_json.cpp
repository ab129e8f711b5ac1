#include "record/record_json.hpp"

#include <boost/json.hpp>
#include <charconv>

namespace ap::record {
namespace json = boost::json;

namespace {

json::value TextOrNull(const std::string& text) { return text.empty() ? json::value(nullptr) : json::value(text); }

// Whether a field could be read as a spreadsheet formula: it starts with = + - @, a tab or a CR
// (OWASP), or with one of = + - @ after blanks (Unicode's spaces and a byte-order mark: a
// spreadsheet may trim them), their full-width forms included (one may fold them).
bool FormulaLike(std::string_view field) {
  if (field.starts_with('\t') || field.starts_with('\r')) return true;
  static constexpr std::string_view kBlanks[] = {" ",      "\t",     "\r",     "\n",     "\u00a0", "\u1680", "\u2000",
                                                 "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006", "\u2007",
                                                 "\u2008", "\u2009", "\u200a", "\u202f", "\u205f", "\u3000", "\ufeff"};
  for (bool trimmed = true; trimmed;) {
    trimmed = false;
    for (std::string_view blank : kBlanks)
      if (field.starts_with(blank)) {
        field.remove_prefix(blank.size());
        trimmed = true;
      }
  }
  static constexpr std::string_view kStarts[] = {"=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20"};
  for (std::string_view start : kStarts)
    if (field.starts_with(start)) return true;
  return false;
}

// App-supplied text (an app's name, a model's) could be a spreadsheet formula: such a field starts
// with a quote mark, so that a spreadsheet shows it and never runs it.
std::string Quoted(std::string_view field) {
  std::string guard = FormulaLike(field) ? "'" : "";
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) return guard + std::string(field);
  std::string out = "\"" + guard;
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

template <class... Fields>
std::string CsvLine(const Fields&... fields) {
  std::string line;
  bool first = true;
  ((line += (first ? "" : ",") + Quoted(fields), first = false), ...);
  return line + "\r\n";
}

std::optional<int64_t> Number(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

json::object ActivityToJson(const store::ActivityRecord& r) {
  return {{"at", FormatIso8601Millis(r.at)},
          {"grantId", r.grant_id},
          {"appName", r.app_name},
          {"owner", TextOrNull(r.owner_id)},
          {"provider", r.provider},
          {"model", TextOrNull(r.model)},
          {"capability", r.capability},
          {"status", r.status},
          {"inputTokens", r.input_tokens},
          {"outputTokens", r.output_tokens},
          {"cachedInputTokens", r.cached_input_tokens},
          {"costMicros", r.cost_micros},
          {"latencyMs", r.latency_ms},
          {"ttftMs", r.ttft_ms ? json::value(*r.ttft_ms) : json::value(nullptr)},
          {"streamed", r.streamed},
          {"refusal", TextOrNull(r.refusal)}};
}

json::object AuditToJson(const store::AuditRecord& r) {
  boost::system::error_code ec;
  json::value detail = json::parse(r.detail, ec);
  if (ec) detail = r.detail;  // shown as it is stored, even when someone broke it
  return {{"seq", r.seq},
          {"at", FormatIso8601Millis(r.at)},
          {"owner", TextOrNull(r.owner_id)},
          {"actor", r.actor},
          {"kind", r.kind},
          {"grantId", TextOrNull(r.grant_id)},
          {"detail", std::move(detail)},
          {"prevHash", r.prev_hash},
          {"hash", r.hash}};
}

std::string ActivityCsvHeader() {
  return "at,grantId,appName,owner,provider,model,capability,status,inputTokens,outputTokens,cachedInputTokens,"
         "costMicros,latencyMs,ttftMs,streamed,refusal\r\n";
}

std::string ActivityCsvLine(const store::ActivityRecord& r) {
  using std::to_string;
  return CsvLine(FormatIso8601Millis(r.at), r.grant_id, r.app_name, r.owner_id, r.provider, r.model, r.capability,
                 to_string(r.status), to_string(r.input_tokens), to_string(r.output_tokens),
                 to_string(r.cached_input_tokens), to_string(r.cost_micros), to_string(r.latency_ms),
                 r.ttft_ms ? to_string(*r.ttft_ms) : std::string(), std::string(r.streamed ? "true" : "false"),
                 r.refusal);
}

std::string AuditCsvHeader() { return "seq,at,owner,actor,kind,grantId,detail,prevHash,hash\r\n"; }

std::string AuditCsvLine(const store::AuditRecord& r) {
  return CsvLine(std::to_string(r.seq), FormatIso8601Millis(r.at), r.owner_id, r.actor, r.kind, r.grant_id, r.detail,
                 r.prev_hash, r.hash);
}

std::string ActivityCursor(const store::ActivityRecord& row) {
  return std::to_string(row.at) + "." + std::to_string(row.id);
}

std::optional<store::RecordCursor> ParseActivityCursor(std::string_view text) {
  size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto at = Number(text.substr(0, dot));
  auto id = Number(text.substr(dot + 1));
  if (!at || !id) return std::nullopt;
  return store::RecordCursor{*at, *id};
}

}  // namespace ap::record
