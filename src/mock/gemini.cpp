// The emulation of the Gemini API: generateContent, streamGenerateContent with alt=sse (events
// separated by CRLF pairs, running usageMetadata), embedContent, batchEmbedContents, countTokens
// and the model list; the key in x-goog-api-key or ?key=.
#include <algorithm>
#include <boost/json.hpp>

#include "core/ids.hpp"
#include "mock/wire.hpp"

namespace ap::mock {
namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kModels[] = {"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash", "text-embedding-004",
                                        "gemini-embedding-001"};

json::object GoogleError(int code, std::string status, std::string message) {
  return {{"error", json::object{{"code", code}, {"message", std::move(message)}, {"status", std::move(status)}}}};
}

Response Invalid(std::string message) {
  return JsonAnswer(400, GoogleError(400, "INVALID_ARGUMENT", std::move(message)));
}

std::optional<Response> RefuseKey(const Request& req, const MockOptions& options) {
  std::string key = GivenKey(req, "google");
  if (key.empty())
    return JsonAnswer(403,
                      GoogleError(403, "PERMISSION_DENIED",
                                  "Method doesn't allow unregistered callers (callers without established identity). "
                                  "Please use API Key or other form of API consumer identity to call this API."));
  if (AcceptsKey(options, options.google_key, key)) return std::nullopt;
  json::object err = GoogleError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.");
  err["error"].as_object()["details"] = json::array{json::object{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
                                                                 {"reason", "API_KEY_INVALID"},
                                                                 {"domain", "googleapis.com"}}};
  return JsonAnswer(400, err);
}

// A field of a request, under its JSON name or its proto name (Gemini, as any proto3 JSON reader,
// takes both: `generationConfig` or `generation_config`).
const json::value* FieldOf(const json::object& o, std::string_view json_name, std::string_view proto_name) {
  const json::value* v = o.if_contains(json_name);
  return v ? v : o.if_contains(proto_name);
}

// Checks a GenerateContentRequest; fills `prompt` with its text.
std::optional<Response> CheckContents(const json::object& o, Prompt& prompt) {
  static constexpr std::pair<std::string_view, std::string_view> kKnown[] = {
      {"contents", "contents"},
      {"systemInstruction", "system_instruction"},
      {"generationConfig", "generation_config"},
      {"safetySettings", "safety_settings"},
      {"tools", "tools"},
      {"toolConfig", "tool_config"},
      {"cachedContent", "cached_content"},
      {"labels", "labels"},
      {"model", "model"},
      {"serviceTier", "service_tier"}};
  for (const auto& [k, v] : o)
    if (std::none_of(std::begin(kKnown), std::end(kKnown),
                     [&](const auto& n) { return k == n.first || k == n.second; }))
      return Invalid("Invalid JSON payload received. Unknown name \"" + std::string(k) + "\": Cannot find field.");
  for (const auto& [json_name, proto_name] : kKnown)
    if (json_name != proto_name && o.contains(json_name) && o.contains(proto_name))
      return Invalid("Invalid JSON payload received. Field \"" + std::string(proto_name) + "\" was given twice.");
  const auto* contents = o.if_contains("contents");
  if (!contents || !contents->is_array() || contents->get_array().empty())
    return Invalid("* GenerateContentRequest.contents: contents is not specified\n");
  if (const auto* system = FieldOf(o, "systemInstruction", "system_instruction"); system && system->is_object())
    if (const auto* parts = system->get_object().if_contains("parts")) CollectText(*parts, prompt);
  for (const auto& c : contents->get_array())
    if (const auto* content = c.if_object())
      if (const auto* parts = content->if_contains("parts")) CollectText(*parts, prompt);
  return std::nullopt;
}

json::object Candidate(const std::string& text, const char* finish, int64_t index = 0) {
  json::object c{{"content", {{"parts", json::array{json::object{{"text", text}}}}, {"role", "model"}}},
                 {"index", index}};
  if (finish) c["finishReason"] = finish;
  return c;
}

// What the emulation's URL context and code execution hand the model back: a fetched page or a
// program's output, reported apart from the prompt as Gemini reports it.
constexpr int64_t kToolResultTokens = 1500;

// Whether the call offers a tool whose results go back to the model as input.
bool FeedsToolResults(const json::object& o) {
  const auto* tools = o.if_contains("tools");
  if (!tools || !tools->is_array()) return false;
  for (const auto& tool : tools->get_array())
    if (const auto* t = tool.if_object())
      for (std::string_view name : {"url_context", "urlContext", "code_execution", "codeExecution"})
        if (t->contains(name)) return true;
  return false;
}

// Of a prompt's tokens, a sound's (reported apart: Google bills them apart).
struct Modalities {
  int64_t all = 0;
  int64_t audio = 0;
};

json::array ByModality(const Modalities& m) {
  json::array details;
  if (m.all > m.audio) details.push_back(json::object{{"modality", "TEXT"}, {"tokenCount", m.all - m.audio}});
  if (m.audio > 0) details.push_back(json::object{{"modality", "AUDIO"}, {"tokenCount", m.audio}});
  return details;
}

// `prompt`: the prompt's tokens, `cached` those of them read from the cache.
json::object UsageMetadata(const Modalities& prompt, int64_t out, int64_t tool_results, const Modalities& cached) {
  json::object u{{"promptTokenCount", prompt.all},
                 {"totalTokenCount", prompt.all + out + tool_results},
                 {"promptTokensDetails", ByModality(prompt)}};
  if (cached.all > 0) {
    u["cachedContentTokenCount"] = cached.all;
    u["cacheTokensDetails"] = ByModality(cached);
  }
  if (out > 0) u["candidatesTokenCount"] = out;
  if (tool_results > 0) u["toolUsePromptTokenCount"] = tool_results;
  return u;
}

// Implicit caching (Gemini 2.5 models): the parts that are not text a call sent before (see
// MediaCache). Each is 1,500 tokens, over the 1,024 Gemini caches at the least.
Modalities ReadFromCache(const Prompt& prompt, std::string_view model, std::string_view key, MediaCache& cache) {
  Modalities cached;
  if (!model.starts_with("gemini-2.5")) return cached;
  std::vector<size_t> parts;
  for (auto [part, _] : prompt.media) parts.push_back(part);
  std::vector<bool> seen = cache.SeenBefore(key, model, parts);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!seen[i]) continue;
    cached.all += kMediaPartTokens;
    if (prompt.media[i].second) cached.audio += kMediaPartTokens;
  }
  return cached;
}

MockAnswer Generate(const json::object& o, std::string_view model, bool stream, const MockOptions& options,
                    std::string_view key, MediaCache& cache) {
  Prompt prompt;
  if (auto refused = CheckContents(o, prompt)) return *refused;
  Quote quote = QuoteFor(model);
  if (quote == Quote::kError && !stream) return Invalid(KeyQuote(key));
  int64_t max_tokens = 0, answers = 1;
  if (const auto* config = FieldOf(o, "generationConfig", "generation_config"); config && config->is_object()) {
    const json::object& c = config->get_object();
    if (c.contains("maxOutputTokens") && c.contains("max_output_tokens"))
      return Invalid("Invalid JSON payload received. Field \"max_output_tokens\" was given twice.");
    max_tokens = IntOr(c, c.contains("maxOutputTokens") ? "maxOutputTokens" : "max_output_tokens", 0);
    answers =
        std::clamp<int64_t>(IntOr(c, c.contains("candidateCount") ? "candidateCount" : "candidate_count", 1), 1, 8);
  }
  bool truncated = false;
  std::string reply = quote == Quote::kNone ? ReplyTo(prompt, max_tokens, truncated) : KeyQuote(key);
  int64_t in = EstimateTokens(prompt.all) + prompt.media_tokens, out = EstimateTokens(reply);
  Modalities all{in, prompt.audio_tokens}, cached = ReadFromCache(prompt, model, key, cache);
  int64_t tool_results = FeedsToolResults(o) ? kToolResultTokens : 0;
  const char* finish = truncated ? "MAX_TOKENS" : "STOP";
  std::string id = RandomToken(12);
  if (!stream)
    return JsonAnswer(200, json::object{{"candidates", json::array{Candidate(reply, finish)}},
                                        {"usageMetadata", UsageMetadata(all, out, tool_results, cached)},
                                        {"modelVersion", model},
                                        {"responseId", id}});
  MockAnswer answer;
  answer.content_type = "text/event-stream";
  if (quote == Quote::kError) {  // Gemini ends a failed stream with an error object
    answer.pieces.push_back(SseEvent("", GoogleError(500, "INTERNAL", KeyQuote(key)), "\r\n\r\n"));
    return answer;
  }
  auto pieces = quote == Quote::kAnswer ? std::vector<std::string>{reply} : Split(reply, options.stream_chunks);
  int64_t sent = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    bool last = i + 1 == pieces.size();
    sent = last ? out : sent + EstimateTokens(pieces[i]);
    // Of several candidates, the others answer in a word and finish in the first chunk, while the
    // first writes on: each chunk carries the candidates still writing.
    json::array candidates{Candidate(pieces[i], last ? finish : nullptr)};
    for (int64_t other = 1; i == 0 && other < answers; ++other) candidates.push_back(Candidate("Done.", "STOP", other));
    json::object chunk{
        {"candidates", std::move(candidates)},
        {"usageMetadata", UsageMetadata(all, last || !options.gemini_output_at_end ? sent : 0, tool_results, cached)},
        {"modelVersion", model},
        {"responseId", id}};
    answer.pieces.push_back(SseEvent("", chunk, "\r\n\r\n"));
  }
  return answer;
}

json::object Embedding(const json::value* content) {
  Prompt prompt;
  if (content && content->is_object())
    if (const auto* parts = content->get_object().if_contains("parts")) CollectText(*parts, prompt);
  json::array values;
  for (float v : FakeEmbedding(prompt.all, 8)) values.push_back(v);
  return {{"values", std::move(values)}};
}

MockAnswer EmbedOne(const json::object& o) {
  if (!o.contains("content")) return Invalid("* EmbedContentRequest.content: content is not specified\n");
  return JsonAnswer(200, json::object{{"embedding", Embedding(o.if_contains("content"))}});
}

// Google: "The model in each of these requests must match the model specified
// BatchEmbedContentsRequest.model".
MockAnswer EmbedBatch(const json::object& o, std::string_view model) {
  const auto* requests = o.if_contains("requests");
  if (!requests || !requests->is_array())
    return Invalid("* BatchEmbedContentsRequest.requests: requests is not specified\n");
  for (const auto& r : requests->get_array())
    if (const auto* named = r.is_object() ? r.get_object().if_contains("model") : nullptr;
        named && !named->is_null() && !(named->is_string() && named->get_string() == "models/" + std::string(model)))
      return Invalid("* BatchEmbedContentsRequest.requests: model must match the batch's model\n");
  json::array embeddings;
  for (const auto& r : requests->get_array())
    embeddings.push_back(Embedding(r.is_object() ? r.get_object().if_contains("content") : nullptr));
  return JsonAnswer(200, json::object{{"embeddings", std::move(embeddings)}});
}

MockAnswer CountTokens(const json::object& o) {
  Prompt prompt;
  if (const auto* contents = o.if_contains("contents"); contents && contents->is_array())
    for (const auto& c : contents->get_array())
      if (const auto* content = c.if_object())
        if (const auto* parts = content->if_contains("parts")) CollectText(*parts, prompt);
  return JsonAnswer(200, json::object{{"totalTokens", EstimateTokens(prompt.all)}});
}

MockAnswer Models() {
  json::array models;
  for (auto id : kModels)
    models.push_back(json::object{{"name", "models/" + std::string(id)},
                                  {"displayName", id},
                                  {"supportedGenerationMethods", json::array{"generateContent", "countTokens"}}});
  return JsonAnswer(200, json::object{{"models", std::move(models)}});
}

}  // namespace

MockAnswer GeminiAnswer(const Request& req, std::string_view path, const MockOptions& options, MediaCache& cache) {
  if (auto refused = RefuseKey(req, options)) return *refused;
  if (req.method() == http::Verb::get && path == "/models") return Models();
  constexpr std::string_view kModelsPrefix = "/models/";
  size_t colon = path.rfind(':');
  if (!path.starts_with(kModelsPrefix) || colon == std::string_view::npos)
    return JsonAnswer(404, GoogleError(404, "NOT_FOUND", "Method not found."));
  std::string_view model = path.substr(kModelsPrefix.size(), colon - kModelsPrefix.size());
  std::string_view action = path.substr(colon + 1);
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec || !body.is_object()) return Invalid("Invalid JSON payload received.");
  const json::object& o = body.get_object();
  std::string key = GivenKey(req, "google");
  if (action == "generateContent") return Generate(o, model, false, options, key, cache);
  if (action == "streamGenerateContent") {
    if (QueryParam(req.target(), "alt") != "sse") return Invalid("The mock streams with alt=sse only");
    return Generate(o, model, true, options, key, cache);
  }
  if (action == "embedContent") return EmbedOne(o);
  if (action == "batchEmbedContents") return EmbedBatch(o, model);
  if (action == "countTokens") return CountTokens(o);
  return JsonAnswer(404, GoogleError(404, "NOT_FOUND", "Method not found."));
}

}  // namespace ap::mock
