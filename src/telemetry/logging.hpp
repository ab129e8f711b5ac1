#pragma once
// How the broker writes its log: text lines, or (log_format = "json") one JSON object a line, the
// start-up lines included. The access log line is built here from named fields only (the matched
// route, never the raw path or query), so no secret can reach it.
// Thread-safety: SetLogFormat once at start, before serving; the rest from any thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ap::telemetry {

enum class LogFormat { kText, kJson };

void SetLogFormat(LogFormat format);
bool JsonLogs();

// A start-up line for the operator on stdout, whatever the log level; the caller flushes stdout.
void Announce(std::string_view text);
// The same for a line that warns (level "warning" in JSON, so alerts on the level see it).
void AnnounceWarning(std::string_view text);
// A failure the process ends with, on stderr ("aipassport: ..." in text).
void Complain(std::string_view text);

// One request, as the access log shows it.
struct RequestLine {
  std::string_view request_id;
  std::string_view method;
  std::string_view route;  // the matched pattern ("/grants/:id"); empty when nothing matched
  unsigned status = 0;
  int64_t duration_ms = 0;
  std::optional<int64_t> upstream_ms;
  std::string_view grant_id;  // empty when the request named no grant
};
// Logs the request at info: one line per request.
void LogRequest(const RequestLine& line);

// The JSON object of one log line (no newline); `fields` are more members, already JSON
// (`"a":1,"b":"x"`), or empty.
std::string JsonLine(std::chrono::system_clock::time_point at, std::string_view level, std::string_view message,
                     std::string_view fields);
// The request's members for JsonLine.
std::string RequestFields(const RequestLine& line);
// `"text"`, JSON-escaped and quoted.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace ap::telemetry
