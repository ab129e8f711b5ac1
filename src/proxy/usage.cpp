#include "proxy/usage.hpp"

#include <boost/json.hpp>

namespace ap::proxy {
namespace json = boost::json;

namespace {

// The integer at `key`, or 0.
int64_t Count(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return 0;
}

int64_t Nested(const json::object& o, std::string_view outer, std::string_view key) {
  const json::value* v = o.if_contains(outer);
  return v && v->is_object() ? Count(v->get_object(), key) : 0;
}

void Keep(int64_t figure, int64_t& into) {
  if (figure > 0) into = figure;
}

void MergeUsageObject(const json::object& u, Usage& usage) {
  int64_t cache_reads = Count(u, "cache_read_input_tokens");
  int64_t cache_writes = Count(u, "cache_creation_input_tokens");
  Keep(Count(u, "prompt_tokens") + Count(u, "input_tokens") + Count(u, "promptTokenCount") + cache_reads + cache_writes,
       usage.input_tokens);
  Keep(cache_writes, usage.cache_write_tokens);
  Keep(Count(u, "completion_tokens") + Count(u, "output_tokens") + Count(u, "candidatesTokenCount") +
           Count(u, "thoughtsTokenCount"),
       usage.output_tokens);
  Keep(Nested(u, "prompt_tokens_details", "cached_tokens") + Nested(u, "input_tokens_details", "cached_tokens") +
           cache_reads + Count(u, "cachedContentTokenCount"),
       usage.cached_input_tokens);
  if (const auto* type = u.if_contains("type"); type && type->is_string() && type->get_string() == "duration") {
    if (const auto* seconds = u.if_contains("seconds"); seconds && seconds->is_number())
      usage.audio_seconds = seconds->to_number<double>();
  }
}

const json::object* ObjectAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

}  // namespace

void MergeUsage(const json::value& answer, Usage& usage) {
  if (!answer.is_object()) return;
  const json::object& o = answer.get_object();
  for (std::string_view holder : {"message", "response"})  // Anthropic's message_start, OpenAI's response.*
    if (const auto* inner = ObjectAt(o, holder))
      if (const auto* u = ObjectAt(*inner, "usage")) MergeUsageObject(*u, usage);
  if (const auto* u = ObjectAt(o, "usage")) MergeUsageObject(*u, usage);
  if (const auto* u = ObjectAt(o, "usageMetadata")) MergeUsageObject(*u, usage);
}

void MergeUsageFromJson(std::string_view json_text, Usage& usage) {
  if (json_text.find("sage") == std::string_view::npos) return;  // "usage" or "usageMetadata"
  boost::system::error_code ec;
  json::value v = json::parse(json_text, ec);
  if (!ec) MergeUsage(v, usage);
}

}  // namespace ap::proxy
