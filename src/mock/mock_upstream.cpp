#include "mock/mock_upstream.hpp"

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <mutex>

#include "core/ids.hpp"
#include "core/time.hpp"
#include "http/response.hpp"

namespace ap::mock {
namespace json = boost::json;
using http::Request;
using http::Response;
using http::StatusCode;
namespace bhttp = http::bhttp;

namespace {

// Roughly what the providers' tokenizers give for English text: four characters a token.
int64_t EstimateTokens(std::string_view text) { return static_cast<int64_t>((text.size() + 3) / 4); }

std::string Header(const Request& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string() : std::string(it->value());
}

std::string QueryParam(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.substr(0, pair.find('=')) == name && pair.find('=') != std::string_view::npos)
      return std::string(pair.substr(pair.find('=') + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

Response JsonAnswer(unsigned status, const json::value& body) {
  Response res = http::JsonResponse(static_cast<StatusCode>(status), body);
  res.set(bhttp::field::content_type, "application/json");
  res.erase(bhttp::field::cache_control);
  return res;
}

// The text of every message, for token counts, and of the last one, for the reply.
struct Prompt {
  std::string all;
  std::string last;
};

void CollectText(const json::value& content, Prompt& prompt) {
  if (content.is_string()) {
    prompt.all += content.get_string();
    prompt.last = content.get_string();
  } else if (content.is_array()) {
    for (const auto& part : content.get_array())
      if (const auto* obj = part.if_object())
        if (const auto* text = obj->if_contains("text"); text && text->is_string()) {
          prompt.all += text->get_string();
          prompt.last = text->get_string();
        }
  }
}

std::string ReplyTo(const Prompt& prompt, int64_t max_tokens, bool& truncated) {
  std::string reply = "This is a mock reply to: " + prompt.last.substr(0, 200);
  truncated = false;
  if (max_tokens > 0 && EstimateTokens(reply) > max_tokens) {
    reply.resize(static_cast<size_t>(max_tokens) * 4);
    truncated = true;
  }
  return reply;
}

int64_t IntOr(const json::object& o, std::string_view key, int64_t fallback) {
  const auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->get_int64() : fallback;
}

// ---- OpenAI ----

json::object OpenAIError(std::string message, std::string type, json::value param, json::value code) {
  return {{"error",
           json::object{{"message", std::move(message)}, {"type", std::move(type)}, {"param", param}, {"code", code}}}};
}

std::string MaskKey(std::string_view key) {
  if (key.size() <= 8) return "****";
  return std::string(key.substr(0, 3)) + "*****" + std::string(key.substr(key.size() - 4));
}

Response OpenAIChat(const Request& req, const MockOptions& options) {
  std::string auth = Header(req, "authorization");
  if (auth.empty())
    return JsonAnswer(401,
                      OpenAIError("You didn't provide an API key. You need to provide your API key in an Authorization "
                                  "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                                  "invalid_request_error", nullptr, nullptr));
  if (auth != "Bearer " + options.openai_key)
    return JsonAnswer(401,
                      OpenAIError("Incorrect API key provided: " + MaskKey(auth.substr(auth.find(' ') + 1)) +
                                      ". You can find your API key at https://platform.openai.com/account/api-keys.",
                                  "invalid_request_error", nullptr, "invalid_api_key"));
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec || !body.is_object())
    return JsonAnswer(400,
                      OpenAIError("We could not parse the JSON body of your request. (HINT: This likely means you "
                                  "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                                  "but what was sent was not valid JSON.)",
                                  "invalid_request_error", nullptr, nullptr));
  const auto& o = body.get_object();
  if (!o.contains("model") || !o.at("model").is_string())
    return JsonAnswer(400,
                      OpenAIError("you must provide a model parameter", "invalid_request_error", nullptr, nullptr));
  const auto* messages = o.if_contains("messages");
  if (!messages || !messages->is_array())
    return JsonAnswer(400, OpenAIError("Missing required parameter: 'messages'.", "invalid_request_error", "messages",
                                       "missing_required_parameter"));
  Prompt prompt;
  for (const auto& m : messages->get_array())
    if (const auto* msg = m.if_object(); msg && msg->contains("content")) CollectText(msg->at("content"), prompt);
  bool truncated = false;
  std::string reply = ReplyTo(prompt, IntOr(o, "max_completion_tokens", IntOr(o, "max_tokens", 0)), truncated);
  int64_t prompt_tokens = EstimateTokens(prompt.all) + 4 * static_cast<int64_t>(messages->get_array().size());
  int64_t completion_tokens = EstimateTokens(reply);
  json::object answer{
      {"id", "chatcmpl-" + RandomToken(12)},
      {"object", "chat.completion"},
      {"created", SystemNow()},
      {"model", o.at("model")},
      {"choices", json::array{json::object{{"index", 0},
                                           {"message", json::object{{"role", "assistant"},
                                                                    {"content", reply},
                                                                    {"refusal", nullptr},
                                                                    {"annotations", json::array()}}},
                                           {"logprobs", nullptr},
                                           {"finish_reason", truncated ? "length" : "stop"}}}},
      {"usage", json::object{{"prompt_tokens", prompt_tokens},
                             {"completion_tokens", completion_tokens},
                             {"total_tokens", prompt_tokens + completion_tokens},
                             {"prompt_tokens_details", json::object{{"cached_tokens", 0}, {"audio_tokens", 0}}},
                             {"completion_tokens_details", json::object{{"reasoning_tokens", 0},
                                                                        {"audio_tokens", 0},
                                                                        {"accepted_prediction_tokens", 0},
                                                                        {"rejected_prediction_tokens", 0}}}}},
      {"service_tier", "default"},
      {"system_fingerprint", "fp_mock"}};
  Response res = JsonAnswer(200, answer);
  res.set("x-request-id", "req_" + RandomToken(12));
  return res;
}

// ---- Anthropic ----

json::object AnthropicError(std::string type, std::string message) {
  return {{"type", "error"},
          {"error", json::object{{"type", std::move(type)}, {"message", std::move(message)}}},
          {"request_id", "req_" + RandomToken(18)}};
}

Response AnthropicMessages(const Request& req, const MockOptions& options) {
  std::string key = Header(req, "x-api-key");
  if (key.empty() || key != options.anthropic_key)
    return JsonAnswer(401, AnthropicError("authentication_error", "invalid x-api-key"));
  if (Header(req, "anthropic-version").empty())
    return JsonAnswer(400, AnthropicError("invalid_request_error", "anthropic-version: header is required"));
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec || !body.is_object())
    return JsonAnswer(400,
                      AnthropicError("invalid_request_error", "There was an error parsing the body of your request"));
  const auto& o = body.get_object();
  static constexpr std::string_view kKnown[] = {
      "model", "messages", "max_tokens", "system",      "metadata", "stop_sequences", "stream",    "temperature",
      "top_p", "top_k",    "tools",      "tool_choice", "thinking", "service_tier",   "container", "mcp_servers"};
  for (const auto& [k, v] : o)
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown))
      return JsonAnswer(400,
                        AnthropicError("invalid_request_error", std::string(k) + ": Extra inputs are not permitted"));
  for (const char* required : {"model", "messages", "max_tokens"})
    if (!o.contains(required))
      return JsonAnswer(400, AnthropicError("invalid_request_error", std::string(required) + ": Field required"));
  if (!o.at("messages").is_array() || !o.at("max_tokens").is_int64())
    return JsonAnswer(400, AnthropicError("invalid_request_error", "messages or max_tokens: Input should be valid"));
  Prompt prompt;
  if (const auto* system = o.if_contains("system")) CollectText(*system, prompt);
  for (const auto& m : o.at("messages").get_array()) {
    const auto* msg = m.if_object();
    if (!msg || !msg->contains("role") || !msg->contains("content"))
      return JsonAnswer(400, AnthropicError("invalid_request_error", "messages: each message needs role and content"));
    const auto& role = msg->at("role");
    if (!role.is_string() || (role.get_string() != "user" && role.get_string() != "assistant"))
      return JsonAnswer(
          400, AnthropicError("invalid_request_error",
                              "messages: Input tag does not match any of the expected tags: 'user', 'assistant'"));
    CollectText(msg->at("content"), prompt);
  }
  bool truncated = false;
  std::string reply = ReplyTo(prompt, o.at("max_tokens").get_int64(), truncated);
  json::object answer{{"id", "msg_" + RandomToken(18)},
                      {"type", "message"},
                      {"role", "assistant"},
                      {"model", o.at("model")},
                      {"content", json::array{json::object{{"type", "text"}, {"text", reply}}}},
                      {"stop_reason", truncated ? "max_tokens" : "end_turn"},
                      {"stop_sequence", nullptr},
                      {"usage", json::object{{"input_tokens", EstimateTokens(prompt.all) + 3},
                                             {"cache_creation_input_tokens", 0},
                                             {"cache_read_input_tokens", 0},
                                             {"output_tokens", EstimateTokens(reply)},
                                             {"service_tier", "standard"}}}};
  Response res = JsonAnswer(200, answer);
  res.set("request-id", "req_" + RandomToken(18));
  return res;
}

// ---- Gemini ----

json::object GoogleError(int code, std::string status, std::string message) {
  return {{"error", json::object{{"code", code}, {"message", std::move(message)}, {"status", std::move(status)}}}};
}

Response GeminiGenerate(const Request& req, std::string_view model, const MockOptions& options) {
  std::string key = Header(req, "x-goog-api-key");
  if (key.empty()) key = QueryParam(req.target(), "key");
  if (key.empty())
    return JsonAnswer(403,
                      GoogleError(403, "PERMISSION_DENIED",
                                  "Method doesn't allow unregistered callers (callers without established identity). "
                                  "Please use API Key or other form of API consumer identity to call this API."));
  if (key != options.google_key) {
    json::object err = GoogleError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.");
    err["error"].as_object()["details"] =
        json::array{json::object{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
                                 {"reason", "API_KEY_INVALID"},
                                 {"domain", "googleapis.com"}}};
    return JsonAnswer(400, err);
  }
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec || !body.is_object())
    return JsonAnswer(400, GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received."));
  const auto& o = body.get_object();
  static constexpr std::string_view kKnown[] = {"contents", "systemInstruction", "generationConfig", "safetySettings",
                                                "tools",    "toolConfig",        "cachedContent",    "labels"};
  for (const auto& [k, v] : o)
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown))
      return JsonAnswer(400, GoogleError(400, "INVALID_ARGUMENT",
                                         "Invalid JSON payload received. Unknown name \"" + std::string(k) +
                                             "\": Cannot find field."));
  const auto* contents = o.if_contains("contents");
  if (!contents || !contents->is_array() || contents->get_array().empty())
    return JsonAnswer(
        400, GoogleError(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n"));
  Prompt prompt;
  if (const auto* system = o.if_contains("systemInstruction"); system && system->is_object())
    if (const auto* parts = system->get_object().if_contains("parts")) CollectText(*parts, prompt);
  for (const auto& c : contents->get_array())
    if (const auto* content = c.if_object())
      if (const auto* parts = content->if_contains("parts")) CollectText(*parts, prompt);
  int64_t max_tokens = 0;
  if (const auto* config = o.if_contains("generationConfig"); config && config->is_object())
    max_tokens = IntOr(config->get_object(), "maxOutputTokens", 0);
  bool truncated = false;
  std::string reply = ReplyTo(prompt, max_tokens, truncated);
  int64_t in = EstimateTokens(prompt.all), out = EstimateTokens(reply);
  json::object answer{
      {"candidates",
       json::array{json::object{
           {"content", json::object{{"parts", json::array{json::object{{"text", reply}}}}, {"role", "model"}}},
           {"finishReason", truncated ? "MAX_TOKENS" : "STOP"},
           {"index", 0}}}},
      {"usageMetadata",
       json::object{{"promptTokenCount", in},
                    {"candidatesTokenCount", out},
                    {"totalTokenCount", in + out},
                    {"promptTokensDetails", json::array{json::object{{"modality", "TEXT"}, {"tokenCount", in}}}}}},
      {"modelVersion", model},
      {"responseId", RandomToken(12)}};
  return JsonAnswer(200, answer);
}

}  // namespace

struct MockUpstream::State {
  MockOptions options;
  std::mutex mutex;
  json::object counts{{"openai", 0}, {"anthropic", 0}, {"google", 0}};
  json::object last_headers;  // provider -> the headers of its last request

  void Record(std::string_view provider, const Request& req) {
    json::object headers;
    for (const auto& field : req) headers[std::string(field.name_string())] = std::string(field.value());
    std::lock_guard lock(mutex);
    counts[provider] = counts[provider].as_int64() + 1;
    last_headers[provider] = std::move(headers);
  }

  Response Answer(const Request& req) {
    std::string_view target = req.target();
    std::string_view path = http::PathOf(target);
    if (req.method() == bhttp::verb::get && path == "/__mock/stats") {
      std::lock_guard lock(mutex);
      return JsonAnswer(200, json::object{{"requests", counts}, {"lastHeaders", last_headers}});
    }
    if (req.method() != bhttp::verb::post) return JsonAnswer(404, json::object{{"error", "not found"}});
    if (path == "/v1/chat/completions") {
      Record("openai", req);
      return OpenAIChat(req, options);
    }
    if (path == "/v1/messages") {
      Record("anthropic", req);
      return AnthropicMessages(req, options);
    }
    constexpr std::string_view kGemini = "/v1beta/models/";
    constexpr std::string_view kGenerate = ":generateContent";
    if (path.starts_with(kGemini) && path.ends_with(kGenerate)) {
      Record("google", req);
      std::string_view model = path.substr(kGemini.size(), path.size() - kGemini.size() - kGenerate.size());
      return GeminiGenerate(req, model, options);
    }
    return JsonAnswer(404, json::object{{"error", "not found"}});
  }
};

MockUpstream::MockUpstream(MockOptions options) : state_(std::make_shared<State>()) {
  state_->options = std::move(options);
}
MockUpstream::~MockUpstream() = default;

http::Handler MockUpstream::Handler() {
  auto state = state_;
  return [state](Request& req, http::Exchange&) -> boost::asio::awaitable<Response> {
    if (state->options.latency_ms > 0) {
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(state->options.latency_ms));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    co_return state->Answer(req);
  };
}

}  // namespace ap::mock
