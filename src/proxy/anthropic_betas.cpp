#include "proxy/anthropic_betas.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <iterator>
#include <string>

#include "http/fields.hpp"

namespace ap::proxy {

namespace {

// The flags relayed, each for what the broker reads of its effect:
// - caching: cache_control marks any input as billed at the hour-long write price;
// - documents and files (pdfs, files-api): a part that is not text reserves the whole window;
// - the 1M window (context-1m): read by OpensWideContext;
// - output limits (output-128k, output-300k): max_tokens is reserved as the app sets it;
// - server tools (web search and fetch, code execution, advisor, MCP servers): read in `tools`
//   and `mcp_servers`, priced, bounded or refused;
// - fast mode: the top-level `speed`; context management and compaction: the `edits` read;
// - client tools, token counting, tool streaming, structured outputs, thinking between tool
//   calls and the window-exceeded stop reason change none of what the broker bounds.
// A flag is compared without regard to case, as a list element with blanks trimmed.
constexpr std::string_view kRelayed[] = {
    "prompt-caching-2024-07-31",    "extended-cache-ttl-2025-04-11",
    "pdfs-2024-09-25",              "files-api-2025-04-14",
    "context-1m-2025-08-07",        "output-128k-2025-02-19",
    "output-300k-2026-03-24",       "web-search-2025-03-05",
    "web-fetch-2025-09-10",         "code-execution-2025-05-22",
    "code-execution-2025-08-25",    "advisor-tool-2026-03-01",
    "mcp-client-2025-04-04",        "mcp-client-2025-11-20",
    "fast-mode-2026-02-01",         "context-management-2025-06-27",
    "compact-2026-01-12",           "computer-use-2024-10-22",
    "computer-use-2025-01-24",      "computer-use-2025-11-24",
    "token-counting-2024-11-01",    "token-efficient-tools-2025-02-19",
    "fine-grained-tool-streaming-2025-05-14", "structured-outputs-2025-11-13",
    "interleaved-thinking-2025-05-14",        "model-context-window-exceeded-2025-08-26",
};

constexpr std::string_view kWideContext = "context-1m-2025-08-07";

constexpr std::string_view kVersions[] = {"2023-06-01", "2026-10-21"};

bool Relayed(std::string_view flag) {
  return std::any_of(std::begin(kRelayed), std::end(kRelayed),
                     [&](std::string_view known) { return boost::beast::iequals(flag, known); });
}

// Calls on_flag(flag) for each flag of every anthropic-beta field; stops at the first false.
template <class OnFlag>
bool ForEachBeta(const http::Request& req, OnFlag on_flag) {
  for (const auto& field : req)
    if (boost::beast::iequals(field.name_string(), "anthropic-beta") && !http::ForEachElement(field.value(), on_flag))
      return false;
  return true;
}

}  // namespace

Status CheckAnthropicBetas(const http::Request& req) {
  std::string refused;
  ForEachBeta(req, [&](std::string_view flag) {
    if (Relayed(flag)) return true;
    refused = flag.substr(0, 80);
    return false;
  });
  if (refused.empty()) return {};
  return MakeError(Errc::kForbidden, "The anthropic-beta flag '" + refused +
                                         "' is not relayed: the broker does not read what it changes in a call (which "
                                         "model runs it, what it may use, what it costs)");
}

Status CheckAnthropicVersion(const http::Request& req) {
  auto field = req.find("anthropic-version");
  if (field == req.end()) return {};
  std::string_view version = field->value();
  if (std::find(std::begin(kVersions), std::end(kVersions), version) != std::end(kVersions)) return {};
  return MakeError(Errc::kBadRequest, "The anthropic-version '" + std::string(version.substr(0, 40)) +
                                          "' is not relayed: the broker reads calls as API versions 2023-06-01 and "
                                          "2026-10-21 define them");
}

bool OpensWideContext(const http::Request& req) {
  // In any case, as a flag is relayed: reading a flag the provider would not is safe (the
  // reservation is only larger).
  return !ForEachBeta(req, [](std::string_view flag) { return !boost::beast::iequals(flag, kWideContext); });
}

}  // namespace ap::proxy
