#include "proxy/usage.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cmath>

#include "core/money.hpp"
#include "proxy/json_scan.hpp"
#include "proxy/request_limits.hpp"

namespace ap::proxy {
namespace json = boost::json;

namespace {

// The count at `key`, or 0; a figure that is not a whole number from 0 to kMaxTokens marks the
// usage implausible (then never taken as a refund or as free).
int64_t Count(const json::object& o, std::string_view key, Usage& usage) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return 0;
  double n = -1;
  if (v->is_int64()) n = static_cast<double>(v->get_int64());
  if (v->is_uint64()) n = static_cast<double>(v->get_uint64());
  if (v->is_double() && std::floor(v->get_double()) == v->get_double()) n = v->get_double();
  if (!(n >= 0 && n <= static_cast<double>(kMaxTokens))) {
    usage.implausible = true;
    return 0;
  }
  return static_cast<int64_t>(n);
}

int64_t Nested(const json::object& o, std::string_view outer, std::string_view key, Usage& usage) {
  const json::value* v = o.if_contains(outer);
  return v && v->is_object() ? Count(v->get_object(), key, usage) : 0;
}

void Keep(int64_t figure, int64_t& into) {
  if (figure > 0) into = figure;
}

void MergeUsageObject(const json::object& u, Usage& usage) {
  auto count = [&](std::string_view key) { return Count(u, key, usage); };
  int64_t cache_reads = count("cache_read_input_tokens");
  int64_t cache_writes = count("cache_creation_input_tokens");
  Keep(count("prompt_tokens") + count("input_tokens") + count("promptTokenCount") + cache_reads + cache_writes,
       usage.input_tokens);
  Keep(cache_writes, usage.cache_write_tokens);
  Keep(
      count("completion_tokens") + count("output_tokens") + count("candidatesTokenCount") + count("thoughtsTokenCount"),
      usage.output_tokens);
  Keep(Nested(u, "prompt_tokens_details", "cached_tokens", usage) +
           Nested(u, "input_tokens_details", "cached_tokens", usage) + cache_reads + count("cachedContentTokenCount"),
       usage.cached_input_tokens);
  if (int64_t searches = Nested(u, "server_tool_use", "web_search_requests", usage); searches > 0)
    usage.SetToolUses("web_search", searches);  // Anthropic's running total
  if (const auto* type = u.if_contains("type"); type && type->is_string() && type->get_string() == "duration") {
    if (const auto* seconds = u.if_contains("seconds"); seconds && seconds->is_number()) {
      double s = seconds->to_number<double>();
      if (std::isfinite(s) && s >= 0 && s <= 1e7)
        usage.audio_seconds = s;
      else
        usage.implausible = true;
    }
  }
}

// OpenAI's Responses output items: each web_search_call or file_search_call is a billed use.
void CountToolCalls(const json::object& response, Usage& usage) {
  const json::value* output = response.if_contains("output");
  if (!output || !output->is_array()) return;
  int64_t searches = 0, file_searches = 0;
  for (const auto& item : output->get_array()) {
    const json::value* type = item.is_object() ? item.get_object().if_contains("type") : nullptr;
    if (!type || !type->is_string()) continue;
    if (type->get_string() == "web_search_call") ++searches;
    if (type->get_string() == "file_search_call") ++file_searches;
  }
  if (searches > 0) usage.SetToolUses("web_search", searches);
  if (file_searches > 0) usage.SetToolUses("file_search", file_searches);
}

// Gemini's grounded candidates: each non-empty search query is charged, at least one per grounded
// candidate. Streams repeat a candidate's metadata as it grows: the latest per candidate counts.
void CountGroundingSearches(const json::object& answer, Usage& usage) {
  const json::value* candidates = answer.if_contains("candidates");
  if (!candidates || !candidates->is_array()) return;
  bool grounded = false;
  for (size_t i = 0; i < candidates->get_array().size(); ++i) {
    const json::object* c = candidates->get_array()[i].if_object();
    const json::value* meta = c ? c->if_contains("groundingMetadata") : nullptr;
    if (!meta || !meta->is_object()) continue;
    int64_t index = static_cast<int64_t>(i);
    if (const auto* at = c->if_contains("index"); at && at->is_int64()) index = at->get_int64();
    if (index < 0 || index >= kMaxAnswers) continue;
    int64_t queries = 0;
    if (const auto* q = meta->get_object().if_contains("webSearchQueries"); q && q->is_array())
      for (const auto& query : q->get_array())
        if (query.is_string() && !query.get_string().empty()) ++queries;
    if (usage.searches_by_candidate.size() <= static_cast<size_t>(index))
      usage.searches_by_candidate.resize(static_cast<size_t>(index) + 1, 0);
    usage.searches_by_candidate[static_cast<size_t>(index)] = std::max<int64_t>(1, queries);
    grounded = true;
  }
  if (grounded) {
    int64_t total = 0;
    for (int64_t n : usage.searches_by_candidate) total += n;
    usage.SetToolUses("google_search", total);
  }
}

// What MergeUsage reads, and `choices` by shape for the usage-only chunk.
using K = ScanKeep;
constexpr ScanRule kWhole{K::kAll};
constexpr ScanRule kShapeOnly{K::kShape};
constexpr ScanMember kTypeMembers[] = {{"type", &kWhole}};
constexpr ScanRule kTyped{K::kSelect, kTypeMembers};
constexpr ScanRule kOutput{K::kSelect, {}, nullptr, &kTyped};
constexpr ScanMember kMessageMembers[] = {{"usage", &kWhole}};
constexpr ScanRule kMessage{K::kSelect, kMessageMembers};
constexpr ScanMember kResponseMembers[] = {{"usage", &kWhole}, {"output", &kOutput}};
constexpr ScanRule kResponse{K::kSelect, kResponseMembers};
constexpr ScanMember kGroundingMembers[] = {{"webSearchQueries", &kWhole}};
constexpr ScanRule kGrounding{K::kSelect, kGroundingMembers};
constexpr ScanMember kCandidateMembers[] = {{"index", &kWhole}, {"groundingMetadata", &kGrounding}};
constexpr ScanRule kCandidate{K::kSelect, kCandidateMembers};
constexpr ScanRule kCandidates{K::kSelect, {}, nullptr, &kCandidate};
constexpr ScanMember kAnswerMembers[] = {
    {"message", &kMessage}, {"response", &kResponse},     {"usage", &kWhole},      {"usageMetadata", &kWhole},
    {"output", &kOutput},   {"candidates", &kCandidates}, {"choices", &kShapeOnly}};
constexpr ScanRule kAnswer{K::kSelect, kAnswerMembers};

const json::object* ObjectAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

}  // namespace

int64_t Usage::ToolUses(std::string_view kind) const {
  for (const auto& [name, uses] : tool_uses)
    if (name == kind) return uses;
  return 0;
}

void Usage::SetToolUses(std::string_view kind, int64_t uses) {
  for (auto& [name, n] : tool_uses)
    if (name == kind) {
      n = uses;
      return;
    }
  tool_uses.emplace_back(std::string(kind), uses);
}

void MergeUsage(const json::value& answer, Usage& usage) {
  if (!answer.is_object()) return;
  const json::object& o = answer.get_object();
  for (std::string_view holder : {"message", "response"})  // Anthropic's message_start, OpenAI's response.*
    if (const auto* inner = ObjectAt(o, holder)) {
      if (const auto* u = ObjectAt(*inner, "usage")) MergeUsageObject(*u, usage);
      if (holder == "response") CountToolCalls(*inner, usage);
    }
  if (const auto* u = ObjectAt(o, "usage")) MergeUsageObject(*u, usage);
  if (const auto* u = ObjectAt(o, "usageMetadata")) MergeUsageObject(*u, usage);
  CountToolCalls(o, usage);
  CountGroundingSearches(o, usage);
}

bool MayCarryUsage(std::string_view json_text) {
  // "usage", "usageMetadata", "groundingMetadata", "web_search_call", "file_search_call"; OpenAI's
  // `"usage":null` (in every chunk of a stream that asked for usage) holds none.
  static constexpr std::string_view kNoUsage = "\"usage\":null";
  for (size_t at = json_text.find("sage"); at != std::string_view::npos; at = json_text.find("sage", at + 1))
    if (at < 2 || json_text.substr(at - 2, kNoUsage.size()) != kNoUsage) return true;
  for (std::string_view mark : {"groundingMetadata", "search_call"})
    if (json_text.find(mark) != std::string_view::npos) return true;
  return false;
}

void MergeUsageFromJson(std::string_view json_text, Usage& usage) { MergeUsageFromChunk(json_text, usage); }

bool MergeUsageFromChunk(std::string_view json_text, Usage& usage) {
  if (!MayCarryUsage(json_text)) return false;
  // What is kept of a usual answer fits here: reading it allocates nothing.
  std::array<unsigned char, 2048> buffer;
  json::monotonic_resource arena(buffer.data(), buffer.size());
  ScanResult scan = ScanJson(json_text, kAnswer, Duplicates::kLastWins, &arena);
  if (!scan.valid) return false;
  MergeUsage(scan.value, usage);
  if (!scan.value.is_object()) return false;
  const auto* choices = scan.value.get_object().if_contains("choices");
  const auto* u = scan.value.get_object().if_contains("usage");
  return choices && choices->is_array() && choices->get_array().empty() && u && u->is_object();
}

}  // namespace ap::proxy
