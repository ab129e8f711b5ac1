#include "telemetry/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>

#include "core/time.hpp"

namespace ap::telemetry {
namespace {

std::atomic<bool> g_json{false};
// The access log's members, handed to the formatter that runs on the logging thread (spdlog's
// default logger is synchronous, so that is this thread).
thread_local std::string_view t_fields;

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line = JsonLine(msg.time, std::string_view(level.data(), level.size()),
                                std::string_view(msg.payload.data(), msg.payload.size()), t_fields);
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

void WriteLine(std::FILE* to, std::string_view level, std::string_view text) {
  if (JsonLogs()) {
    std::string line = JsonLine(std::chrono::system_clock::now(), level, text, {});
    std::fprintf(to, "%s\n", line.c_str());
  } else {
    std::fprintf(to, "%.*s\n", static_cast<int>(text.size()), text.data());
  }
  if (to != stdout) std::fflush(to);  // start-up lines go out together, when the broker is ready
}

}  // namespace

void SetLogFormat(LogFormat format) {
  g_json = format == LogFormat::kJson;
  if (g_json) spdlog::set_formatter(std::make_unique<JsonFormatter>());
}

bool JsonLogs() { return g_json.load(std::memory_order_relaxed); }

void Announce(std::string_view text) { WriteLine(stdout, "info", text); }

void AnnounceWarning(std::string_view text) { WriteLine(stdout, "warning", text); }

void Complain(std::string_view text) {
  if (JsonLogs())
    WriteLine(stderr, "error", text);
  else
    WriteLine(stderr, "error", "aipassport: " + std::string(text));
}

void LogRequest(const RequestLine& line) {
  if (!spdlog::should_log(spdlog::level::info)) return;
  if (JsonLogs()) {
    std::string fields = RequestFields(line);
    t_fields = fields;
    spdlog::info("request");
    t_fields = {};
    return;
  }
  std::string upstream = line.upstream_ms ? " (upstream " + std::to_string(*line.upstream_ms) + " ms)" : "";
  spdlog::info("{} {} -> {} in {} ms{}{}{} request_id={}", line.method, line.route.empty() ? "-" : line.route,
               line.status, line.duration_ms, upstream, line.grant_id.empty() ? "" : " grant=", line.grant_id,
               line.request_id);
}

std::string JsonLine(std::chrono::system_clock::time_point at, std::string_view level, std::string_view message,
                     std::string_view fields) {
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
  std::string out = "{\"time\":\"";
  out += FormatIso8601Millis(millis);
  out += "\",\"level\":";
  AppendJsonString(out, level);
  out += ",\"msg\":";
  AppendJsonString(out, message);
  if (!fields.empty()) {
    out += ',';
    out += fields;
  }
  out += '}';
  return out;
}

std::string RequestFields(const RequestLine& line) {
  std::string out = "\"request_id\":";
  AppendJsonString(out, line.request_id);
  out += ",\"method\":";
  AppendJsonString(out, line.method);
  out += ",\"route\":";
  if (line.route.empty())
    out += "null";
  else
    AppendJsonString(out, line.route);
  out += ",\"status\":" + std::to_string(line.status);
  out += ",\"duration_ms\":" + std::to_string(line.duration_ms);
  out += ",\"upstream_ms\":" + (line.upstream_ms ? std::to_string(*line.upstream_ms) : std::string("null"));
  out += ",\"grant_id\":";
  if (line.grant_id.empty())
    out += "null";
  else
    AppendJsonString(out, line.grant_id);
  return out;
}

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace ap::telemetry
