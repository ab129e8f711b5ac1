// The emulation of Anthropic's API: messages (whole or streamed as message_start, content blocks,
// message_delta with running usage, message_stop), token counting and the model list.
#include <boost/json.hpp>

#include "core/ids.hpp"
#include "mock/wire.hpp"

namespace ap::mock {
namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kModels[] = {"claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805",
                                        "claude-3-5-haiku-20241022", "claude-haiku-4-5-20251001"};

json::object AnthropicError(std::string type, std::string message) {
  return {{"type", "error"},
          {"error", json::object{{"type", std::move(type)}, {"message", std::move(message)}}},
          {"request_id", "req_" + RandomToken(18)}};
}

Response Invalid(std::string message) {
  return JsonAnswer(400, AnthropicError("invalid_request_error", std::move(message)));
}

// Checks the body of messages and count_tokens; fills `prompt` with its text.
std::optional<Response> CheckMessages(const json::object& o, bool needs_max_tokens, Prompt& prompt) {
  static constexpr std::string_view kKnown[] = {
      "model",    "messages",     "max_tokens", "system",      "metadata",      "stop_sequences",
      "stream",   "temperature",  "top_p",      "top_k",       "tools",         "tool_choice",
      "thinking", "service_tier", "container",  "mcp_servers", "inference_geo", "speed"};
  for (const auto& [k, v] : o)
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown))
      return Invalid(std::string(k) + ": Extra inputs are not permitted");
  for (const char* required : {"model", "messages", "max_tokens"}) {
    if (!needs_max_tokens && std::string_view(required) == "max_tokens") continue;
    if (!o.contains(required)) return Invalid(std::string(required) + ": Field required");
  }
  if (!o.at("messages").is_array() || (needs_max_tokens && !o.at("max_tokens").is_int64()))
    return Invalid("messages or max_tokens: Input should be valid");
  if (const auto* tools = o.if_contains("tools"); tools && tools->is_array())
    for (const auto& t : tools->get_array()) {  // only the search and fetch tools take a bound on their uses
      const auto* tool = t.if_object();
      const auto* type = tool ? tool->if_contains("type") : nullptr;
      if (type && type->is_string() && type->get_string().starts_with("code_execution_") && tool->contains("max_uses"))
        return Invalid("tools.code_execution.max_uses: Extra inputs are not permitted");
    }
  if (const auto* system = o.if_contains("system")) CollectText(*system, prompt);
  for (const auto& m : o.at("messages").get_array()) {
    const auto* msg = m.if_object();
    if (!msg || !msg->contains("role") || !msg->contains("content"))
      return Invalid("messages: each message needs role and content");
    const auto& role = msg->at("role");
    if (!role.is_string() || (role.get_string() != "user" && role.get_string() != "assistant"))
      return Invalid("messages: Input tag does not match any of the expected tags: 'user', 'assistant'");
    CollectText(msg->at("content"), prompt);
  }
  return std::nullopt;
}

// The emulated model searches twice when it has the web search tool, never past its max_uses.
int64_t WebSearches(const json::object& o) {
  const auto* tools = o.if_contains("tools");
  if (!tools || !tools->is_array()) return 0;
  for (const auto& t : tools->get_array()) {
    const auto* tool = t.if_object();
    const auto* type = tool ? tool->if_contains("type") : nullptr;
    if (!type || !type->is_string() || !type->get_string().starts_with("web_search_")) continue;
    const auto* max_uses = tool->if_contains("max_uses");
    return std::min<int64_t>(2, max_uses && max_uses->is_int64() ? max_uses->get_int64() : 2);
  }
  return 0;
}

// Claude Opus 4.6, Sonnet 4.6 and later take inference_geo (and report where they ran); earlier
// models refuse it.
bool TakesInferenceGeo(std::string_view model) {
  for (std::string_view family : {"claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-7", "claude-opus-4-8",
                                  "claude-opus-5", "claude-sonnet-5"})
    if (model.starts_with(family)) return true;
  return false;
}

// Where the call runs: the geography it names, else the workspace's default (MockOptions); empty
// for a model that takes none. Sets `refused` for a value or a model Anthropic refuses.
std::string InferenceGeo(const json::object& o, const MockOptions& options, std::optional<Response>& refused) {
  const json::value* model = o.if_contains("model");
  const json::value* asked = o.if_contains("inference_geo");
  bool named = asked && !asked->is_null();
  if (!model || !model->is_string() || !TakesInferenceGeo(model->get_string())) {
    if (named) refused = Invalid("inference_geo: not supported for this model");
    return "";
  }
  if (!named) return options.workspace_inference_geo;
  if (asked->is_string() && (asked->get_string() == "global" || asked->get_string() == "us"))
    return std::string(asked->get_string());
  refused = Invalid("inference_geo: Input should be 'global' or 'us'");
  return "";
}

// The longest lifetime of the cache breakpoints anywhere in `v`: 2 for "1h", 1 for "5m" (the
// default), 0 for none. The emulation writes the whole prompt to a cache of that lifetime.
int CacheLifetime(const json::value& v) {
  int longest = 0;
  if (const json::object* o = v.if_object())
    for (const auto& member : *o) {
      longest = std::max(longest, CacheLifetime(member.value()));
      if (member.key() == "cache_control" && member.value().is_object()) {
        const json::value* ttl = member.value().get_object().if_contains("ttl");
        longest = std::max(longest, ttl && ttl->is_string() && ttl->get_string() == "1h" ? 2 : 1);
      }
    }
  if (const json::array* a = v.if_array())
    for (const auto& element : *a) longest = std::max(longest, CacheLifetime(element));
  return longest;
}

// Usage as Anthropic reports it: input_tokens is what was neither written to nor read from a cache.
json::object Usage(int64_t in, int64_t out, int64_t searches, std::string_view geo, int cached_for = 0) {
  int64_t written = cached_for > 0 ? in : 0;
  json::object u{{"input_tokens", in - written},
                 {"cache_creation_input_tokens", written},
                 {"cache_read_input_tokens", 0},
                 {"output_tokens", out},
                 {"service_tier", "standard"}};
  if (written > 0)
    u["cache_creation"] = {{"ephemeral_5m_input_tokens", cached_for == 1 ? written : 0},
                           {"ephemeral_1h_input_tokens", cached_for == 2 ? written : 0}};
  if (searches > 0) u["server_tool_use"] = {{"web_search_requests", searches}, {"web_fetch_requests", 0}};
  if (!geo.empty()) u["inference_geo"] = geo;
  return u;
}

MockAnswer Messages(const json::object& o, const MockOptions& options, std::string_view key) {
  Prompt prompt;
  if (auto refused = CheckMessages(o, true, prompt)) return *refused;
  std::optional<Response> refused;
  std::string geo = InferenceGeo(o, options, refused);
  if (refused) return *refused;
  int cached_for = CacheLifetime(json::value(o));
  Quote quote = o.at("model").is_string() ? QuoteFor(o.at("model").get_string()) : Quote::kNone;
  const auto* stream = o.if_contains("stream");
  bool streamed = stream && stream->is_bool() && stream->get_bool();
  if (quote == Quote::kError && !streamed) return Invalid(KeyQuote(key));
  bool truncated = false;
  std::string reply =
      quote == Quote::kNone ? ReplyTo(prompt, o.at("max_tokens").get_int64(), truncated) : KeyQuote(key);
  int64_t in = EstimateTokens(prompt.all) + prompt.media_tokens + 3, out = EstimateTokens(reply);
  std::string id = "msg_" + RandomToken(18);
  const char* stop = truncated ? "max_tokens" : "end_turn";
  if (!streamed) {
    return JsonAnswer(200, json::object{{"id", id},
                                        {"type", "message"},
                                        {"role", "assistant"},
                                        {"model", o.at("model")},
                                        {"content", json::array{json::object{{"type", "text"}, {"text", reply}}}},
                                        {"stop_reason", stop},
                                        {"stop_sequence", nullptr},
                                        {"usage", Usage(in, out, WebSearches(o), geo, cached_for)}});
  }
  MockAnswer answer;
  answer.content_type = "text/event-stream; charset=utf-8";
  auto event = [](std::string_view type, json::object data) {
    data["type"] = type;
    return SseEvent(type, data);
  };
  answer.pieces.push_back(event("message_start", {{"message",
                                                   {{"id", id},
                                                    {"type", "message"},
                                                    {"role", "assistant"},
                                                    {"model", o.at("model")},
                                                    {"content", json::array()},
                                                    {"stop_reason", nullptr},
                                                    {"stop_sequence", nullptr},
                                                    {"usage", Usage(in, 1, 0, geo, cached_for)}}}}));
  answer.pieces.push_back(
      event("content_block_start", {{"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}}));
  answer.pieces.push_back(event("ping", {}));
  if (quote == Quote::kError) {  // as Anthropic reports an overload mid-stream
    answer.pieces.push_back(event("error", {{"error", {{"type", "overloaded_error"}, {"message", KeyQuote(key)}}}}));
    return answer;
  }
  auto pieces = quote == Quote::kAnswer ? std::vector<std::string>{reply} : Split(reply, options.stream_chunks);
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (options.overload_after >= 0 && i == static_cast<size_t>(options.overload_after)) {
      answer.pieces.push_back(event("error", {{"error", {{"type", "overloaded_error"}, {"message", "Overloaded"}}}}));
      return answer;
    }
    answer.pieces.push_back(
        event("content_block_delta", {{"index", 0}, {"delta", {{"type", "text_delta"}, {"text", pieces[i]}}}}));
  }
  answer.pieces.push_back(event("content_block_stop", {{"index", 0}}));
  answer.pieces.push_back(event("message_delta", {{"delta", {{"stop_reason", stop}, {"stop_sequence", nullptr}}},
                                                  {"usage", Usage(in, out, WebSearches(o), geo, cached_for)}}));
  answer.pieces.push_back(event("message_stop", {}));
  return answer;
}

MockAnswer CountTokens(const json::object& o) {
  Prompt prompt;
  if (auto refused = CheckMessages(o, false, prompt)) return *refused;
  return JsonAnswer(200, json::object{{"input_tokens", EstimateTokens(prompt.all) + 3}});
}

MockAnswer Models() {
  json::array data;
  for (auto id : kModels)
    data.push_back(
        json::object{{"type", "model"}, {"id", id}, {"display_name", id}, {"created_at", "2025-01-01T00:00:00Z"}});
  return JsonAnswer(200, json::object{{"data", std::move(data)},
                                      {"has_more", false},
                                      {"first_id", kModels[0]},
                                      {"last_id", kModels[std::size(kModels) - 1]}});
}

// The fields Anthropic documents on its answers besides request-id: the organization and the
// key's rate limits.
constexpr std::pair<std::string_view, std::string_view> kAccountFields[] = {
    {"anthropic-organization-id", "00000000-0000-4000-8000-000000000000"},
    {"anthropic-ratelimit-requests-limit", "4000"},
    {"anthropic-ratelimit-requests-remaining", "3999"},
    {"anthropic-ratelimit-requests-reset", "2026-01-01T00:00:01Z"},
    {"anthropic-ratelimit-tokens-limit", "400000"},
    {"anthropic-ratelimit-tokens-remaining", "399980"},
    {"anthropic-ratelimit-tokens-reset", "2026-01-01T00:00:01Z"}};

MockAnswer WithRequestId(MockAnswer answer) {
  answer.request_id_header = "request-id";
  answer.request_id = "req_" + RandomToken(18);
  answer.whole.set("request-id", answer.request_id);
  answer.AddAccountFields(kAccountFields);
  return answer;
}

}  // namespace

MockAnswer AnthropicAnswer(const Request& req, std::string_view path, const MockOptions& options) {
  std::string key = GivenKey(req, "anthropic");
  if (key.empty() || !AcceptsKey(options, options.anthropic_key, key))
    return JsonAnswer(401, AnthropicError("authentication_error", "invalid x-api-key"));
  if (Header(req, "anthropic-version").empty()) return Invalid("anthropic-version: header is required");
  if (req.method() == http::Verb::get && path == "/v1/models") return WithRequestId(Models());
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec || !body.is_object()) return Invalid("There was an error parsing the body of your request");
  if (path == "/v1/messages") return WithRequestId(Messages(body.get_object(), options, key));
  if (path == "/v1/messages/count_tokens") return WithRequestId(CountTokens(body.get_object()));
  return JsonAnswer(404, AnthropicError("not_found_error", "Not Found"));
}

}  // namespace ap::mock
