#pragma once
// What usage means, read from the whole parsed answer: the definition MergeUsageFromChunk (which
// builds nothing) is held to, by usage_test.cpp and fuzz/usage_fuzz.cpp. The broker never calls it.

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <string_view>

#include "core/money.hpp"
#include "proxy/json_walk.hpp"
#include "proxy/request_limits.hpp"
#include "proxy/usage.hpp"

namespace ap::proxy::reference {
namespace json = boost::json;

inline int64_t Count(const json::object& o, std::string_view key, Usage& usage) {
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

inline int64_t Nested(const json::object& o, std::string_view outer, std::string_view key, Usage& usage) {
  const json::value* v = o.if_contains(outer);
  return v && v->is_object() ? Count(v->get_object(), key, usage) : 0;
}

inline void Keep(int64_t figure, int64_t& into) {
  if (figure > 0) into = figure;
}

inline void MergeUsageObject(const json::object& u, Usage& usage) {
  // Each figure as the latest object that gave it said; the totals are their sums.
  for (size_t i = 0; i < kUsageFigureNames.size(); ++i) {
    std::string_view name = kUsageFigureNames[i];
    size_t dot = name.find('.');
    Keep(dot == std::string_view::npos ? Count(u, name, usage)
                                       : Nested(u, name.substr(0, dot), name.substr(dot + 1), usage),
         usage.figures[i]);
  }
  auto count = [&](std::string_view key) {
    for (size_t i = 0; i < kUsageFigureNames.size(); ++i)
      if (kUsageFigureNames[i] == key) return usage.figures[i];
    return int64_t{0};
  };
  int64_t cache_reads = count("cache_read_input_tokens");
  int64_t cache_writes = count("cache_creation_input_tokens");
  Keep(count("prompt_tokens") + count("input_tokens") + count("promptTokenCount") + count("toolUsePromptTokenCount") +
           cache_reads + cache_writes,
       usage.input_tokens);
  Keep(cache_writes, usage.cache_write_tokens);
  Keep(Nested(u, "cache_creation", "ephemeral_1h_input_tokens", usage), usage.cache_write_1h_tokens);
  Keep(
      count("completion_tokens") + count("output_tokens") + count("candidatesTokenCount") + count("thoughtsTokenCount"),
      usage.output_tokens);
  if (count("candidatesTokenCount") > 0) usage.output_counted = true;
  Keep(count("prompt_tokens_details.cached_tokens") + count("input_tokens_details.cached_tokens") + cache_reads +
           count("cachedContentTokenCount"),
       usage.cached_input_tokens);
  if (int64_t searches = Nested(u, "server_tool_use", "web_search_requests", usage); searches > 0)
    usage.SetToolUses("web_search", searches);
  for (auto [list, into] : {std::pair{"promptTokensDetails", &usage.audio_input_tokens},
                            std::pair{"cacheTokensDetails", &usage.cached_audio_input_tokens}}) {
    const auto* details = u.if_contains(list);
    if (!details || !details->is_array()) continue;
    // The AUDIO entries' counts add up; one that is not a count makes the whole usage implausible.
    int64_t audio = 0;
    bool bad = false;
    for (const auto& entry : details->get_array()) {
      const json::object* e = entry.if_object();
      const json::value* modality = e ? e->if_contains("modality") : nullptr;
      if (!modality || !modality->is_string() || modality->get_string() != "AUDIO") continue;
      Usage checked;
      audio += Count(*e, "tokenCount", checked);
      bad = bad || checked.implausible;
    }
    if (bad || audio > kMaxTokens)
      usage.implausible = true;
    else
      Keep(audio, *into);
  }
  if (const auto* geo = u.if_contains("inference_geo"); geo && !geo->is_null()) {
    bool one = !(geo->is_string() && geo->get_string() == "global");
    if (one)
      usage.one_geo = true;
    else if (!usage.one_geo.has_value())
      usage.one_geo = false;
  }
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

inline void CountToolCalls(const json::object& response, Usage& usage) {
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

inline void CountGroundingSearches(const json::object& answer, Usage& usage) {
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
    int64_t& searches = usage.searches_by_candidate[static_cast<size_t>(index)];
    searches = std::max(searches, std::max<int64_t>(1, queries));
    grounded = true;
  }
  if (grounded) {
    int64_t total = 0;
    for (int64_t n : usage.searches_by_candidate) total += n;
    usage.SetToolUses("google_search", total);
  }
}

// Whether a Gemini candidate has a finishReason (a non-empty string): its stream has ended.
inline bool CandidateFinished(const json::object& answer) {
  const json::value* candidates = answer.if_contains("candidates");
  if (!candidates || !candidates->is_array()) return false;
  for (const auto& c : candidates->get_array()) {
    const json::value* reason = c.is_object() ? c.get_object().if_contains("finishReason") : nullptr;
    if (reason && reason->is_string() && !reason->get_string().empty()) return true;
  }
  return false;
}

inline const json::object* ObjectAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

// MergeUsageFromChunk as a reader of the whole parsed answer: the same figures, and the same answer.
inline bool MergeUsageFromParse(std::string_view text, Usage& usage) {
  if (!MayCarryUsage(text)) return false;
  boost::system::error_code ec;
  json::parse_options deep;
  deep.max_depth = json_walk::kAnswerMaxDepth;
  json::value answer = json::parse(text, ec, {}, deep);
  if (ec) usage.implausible = true;  // what cannot be read counts as the worst case
  if (ec || !answer.is_object()) return false;
  const json::object& o = answer.get_object();
  bool closed = false;
  for (std::string_view holder : {"message", "response"})
    if (const auto* inner = ObjectAt(o, holder)) {
      const auto* u = ObjectAt(*inner, "usage");
      if (u) MergeUsageObject(*u, usage);
      if (holder == "response") CountToolCalls(*inner, usage);
      closed = closed || (u && holder == "response");
    }
  if (const auto* u = ObjectAt(o, "usage")) {
    MergeUsageObject(*u, usage);
    closed = true;
  }
  if (const auto* u = ObjectAt(o, "usageMetadata")) {
    MergeUsageObject(*u, usage);
    closed = closed || CandidateFinished(o);
  }
  CountToolCalls(o, usage);
  CountGroundingSearches(o, usage);
  if (closed) usage.closed = true;
  const auto* choices = o.if_contains("choices");
  return choices && choices->is_array() && choices->get_array().empty() && ObjectAt(o, "usage");
}

}  // namespace ap::proxy::reference
