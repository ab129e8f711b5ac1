#pragma once
// The record as the owner reads it: JSON for the API and `jsonl` exports, CSV for `csv` exports,
// and the page cursors the API hands out.
// Thread-safety: stateless.

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "store/record_store.hpp"

namespace ap::record {

// {at, grantId, appName, owner, provider, model, capability, status, inputTokens, outputTokens,
//  cachedInputTokens, costMicros, latencyMs, ttftMs, streamed, refusal}
boost::json::object ActivityToJson(const store::ActivityRecord& row);
// {seq, at, owner, actor, kind, grantId, detail, prevHash, hash}
boost::json::object AuditToJson(const store::AuditRecord& record);

// A header line and one line per row, RFC 4180 quoting, each line ending in CRLF.
std::string ActivityCsvHeader();
std::string ActivityCsvLine(const store::ActivityRecord& row);
std::string AuditCsvHeader();
std::string AuditCsvLine(const store::AuditRecord& record);

// The `next` cursor after `row`, and back.
std::string ActivityCursor(const store::ActivityRecord& row);
std::optional<store::RecordCursor> ParseActivityCursor(std::string_view text);

}  // namespace ap::record
