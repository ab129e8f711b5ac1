// The emulation of OpenAI's API: chat completions and responses (whole or streamed, with the
// usage chunk when asked), embeddings (float or base64), images, audio transcription, translation
// and speech, moderations and the model list.
#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <map>
#include <optional>

#include "core/base64url.hpp"
#include "core/ids.hpp"
#include "mock/wire.hpp"

namespace ap::mock {
namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kModels[] = {
    "gpt-4o",           "gpt-4o-mini", "gpt-4.1",     "o3",       "text-embedding-3-small",
    "whisper-1",        "tts-1",       "gpt-image-1", "dall-e-3", "omni-moderation-latest",
    "gpt-4o-transcribe"};

json::object OpenAIError(std::string message, std::string type, json::value param, json::value code) {
  return {{"error",
           json::object{{"message", std::move(message)}, {"type", std::move(type)}, {"param", param}, {"code", code}}}};
}

std::string MaskKey(std::string_view key) {
  if (key.size() <= 8) return "****";
  return std::string(key.substr(0, 3)) + "*****" + std::string(key.substr(key.size() - 4));
}

std::optional<Response> RefuseKey(const Request& req, const MockOptions& options) {
  std::string auth = Header(req, "authorization");
  std::string key = GivenKey(req, "openai");
  if (auth.empty())
    return JsonAnswer(401,
                      OpenAIError("You didn't provide an API key. You need to provide your API key in an Authorization "
                                  "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                                  "invalid_request_error", nullptr, nullptr));
  if (!auth.starts_with("Bearer ") || !AcceptsKey(options, options.openai_key, key))
    return JsonAnswer(401,
                      OpenAIError("Incorrect API key provided: " + MaskKey(key) +
                                      ". You can find your API key at https://platform.openai.com/account/api-keys.",
                                  "invalid_request_error", nullptr, "invalid_api_key"));
  return std::nullopt;
}

Response BadJson() {
  return JsonAnswer(400, OpenAIError("We could not parse the JSON body of your request. (HINT: This likely means you "
                                     "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                                     "but what was sent was not valid JSON.)",
                                     "invalid_request_error", nullptr, nullptr));
}

Response Missing(std::string_view param) {
  return JsonAnswer(400, OpenAIError("Missing required parameter: '" + std::string(param) + "'.",
                                     "invalid_request_error", json::string(param), "missing_required_parameter"));
}

// The fields OpenAI documents on every answer besides x-request-id: the organization, the time it
// took, the API version and the key's rate limits.
constexpr std::pair<std::string_view, std::string_view> kAccountFields[] = {
    {"openai-organization", "user-mock"},
    {"openai-processing-ms", "212"},
    {"openai-version", "2020-10-01"},
    {"x-ratelimit-limit-requests", "10000"},
    {"x-ratelimit-limit-tokens", "30000000"},
    {"x-ratelimit-remaining-requests", "9999"},
    {"x-ratelimit-remaining-tokens", "29999980"},
    {"x-ratelimit-reset-requests", "6ms"},
    {"x-ratelimit-reset-tokens", "0s"}};

MockAnswer WithRequestId(MockAnswer answer) {
  answer.request_id_header = "x-request-id";
  answer.request_id = "req_" + RandomToken(12);
  answer.whole.set("x-request-id", answer.request_id);
  answer.AddAccountFields(kAccountFields);
  return answer;
}

bool Flag(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

json::object ChatUsage(int64_t in, int64_t out) {
  return {{"prompt_tokens", in},
          {"completion_tokens", out},
          {"total_tokens", in + out},
          {"prompt_tokens_details", {{"cached_tokens", 0}, {"audio_tokens", 0}}},
          {"completion_tokens_details",
           {{"reasoning_tokens", 0},
            {"audio_tokens", 0},
            {"accepted_prediction_tokens", 0},
            {"rejected_prediction_tokens", 0}}}};
}

// An error in the middle of a stream, as OpenAI sends one: a data event with an `error` member.
std::string StreamError(const std::string& message) {
  return SseEvent(
      "",
      json::object{{"error", {{"message", message}, {"type", "server_error"}, {"param", nullptr}, {"code", nullptr}}}});
}

MockAnswer QuotedKeyError(std::string_view key) {
  return JsonAnswer(400, OpenAIError(KeyQuote(key), "invalid_request_error", nullptr, nullptr));
}

// The tier a call is processed at, as its answer names it: the one it asks for, or the project's
// (MockOptions::project_service_tier) where it names none or "auto". Empty for a value OpenAI refuses.
std::string ServedTier(const json::object& o, const MockOptions& options) {
  const json::value* asked = o.if_contains("service_tier");
  if (!asked || asked->is_null() || (asked->is_string() && asked->get_string() == "auto"))
    return options.project_service_tier;
  for (std::string_view tier : {"default", "flex", "scale", "priority"})
    if (asked->is_string() && asked->get_string() == tier) return std::string(tier);
  return "";
}

MockAnswer BadTier() {
  return JsonAnswer(
      400, OpenAIError("Invalid value for 'service_tier'.", "invalid_request_error", "service_tier", "invalid_value"));
}

MockAnswer Chat(const json::object& o, const MockOptions& options, std::string_view key) {
  if (!o.contains("model") || !o.at("model").is_string())
    return JsonAnswer(400,
                      OpenAIError("you must provide a model parameter", "invalid_request_error", nullptr, nullptr));
  std::string tier = ServedTier(o, options);
  if (tier.empty()) return BadTier();
  const auto* messages = o.if_contains("messages");
  if (!messages || !messages->is_array()) return Missing("messages");
  Prompt prompt;
  for (const auto& m : messages->get_array())
    if (const auto* msg = m.if_object(); msg && msg->contains("content")) CollectText(msg->at("content"), prompt);
  Quote quote = QuoteFor(o.at("model").get_string());
  if (quote == Quote::kError && !Flag(o, "stream")) return QuotedKeyError(key);
  bool truncated = false;
  std::string reply = quote == Quote::kNone
                          ? ReplyTo(prompt, IntOr(o, "max_completion_tokens", IntOr(o, "max_tokens", 0)), truncated)
                          : KeyQuote(key);
  int64_t in =
      EstimateTokens(prompt.all) + prompt.media_tokens + 4 * static_cast<int64_t>(messages->get_array().size());
  int64_t out = EstimateTokens(reply);
  std::string id = "chatcmpl-" + RandomToken(12);
  const char* finish = truncated ? "length" : "stop";
  if (!Flag(o, "stream")) {
    json::object answer{
        {"id", id},
        {"object", "chat.completion"},
        {"created", UnixNow()},
        {"model", o.at("model")},
        {"choices",
         json::array{json::object{
             {"index", 0},
             {"message",
              {{"role", "assistant"}, {"content", reply}, {"refusal", nullptr}, {"annotations", json::array()}}},
             {"logprobs", nullptr},
             {"finish_reason", finish}}}},
        {"usage", ChatUsage(in, out)},
        {"service_tier", tier},
        {"system_fingerprint", "fp_mock"}};
    return JsonAnswer(200, answer);
  }
  bool include_usage = false;
  bool continuous = false;  // vLLM's continuous_usage_stats: the running totals in every chunk
  if (const auto* so = o.if_contains("stream_options"); so && so->is_object()) {
    include_usage = Flag(so->get_object(), "include_usage");
    continuous = include_usage && Flag(so->get_object(), "continuous_usage_stats");
  }
  int64_t written = 0;
  auto chunk = [&](json::object delta, json::value finish_reason) {
    json::object c{
        {"id", id},
        {"object", "chat.completion.chunk"},
        {"created", UnixNow()},
        {"model", o.at("model")},
        {"system_fingerprint", "fp_mock"},
        {"service_tier", tier},
        {"choices",
         json::array{json::object{
             {"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}}}};
    if (include_usage) c["usage"] = continuous ? json::value(ChatUsage(in, std::min(written, out))) : nullptr;
    return SseEvent("", c);
  };
  MockAnswer answer;
  answer.content_type = "text/event-stream; charset=utf-8";
  answer.pieces.push_back(chunk({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr));
  if (quote == Quote::kError) {
    answer.pieces.push_back(chunk({{"content", "Thinking"}}, nullptr));
    answer.pieces.push_back(StreamError(KeyQuote(key)));
    return answer;
  }
  auto pieces = quote == Quote::kAnswer ? std::vector<std::string>{reply} : Split(reply, options.stream_chunks);
  for (auto& piece : pieces) {
    written += EstimateTokens(piece);
    answer.pieces.push_back(chunk({{"content", piece}}, nullptr));
  }
  answer.pieces.push_back(chunk({}, finish));
  if (include_usage) {
    json::object last{{"id", id},
                      {"object", "chat.completion.chunk"},
                      {"created", UnixNow()},
                      {"model", o.at("model")},
                      {"system_fingerprint", "fp_mock"},
                      {"choices", json::array()},
                      {"usage", ChatUsage(in, out)}};
    answer.pieces.push_back(SseEvent("", last));
  }
  answer.pieces.push_back("data: [DONE]\n\n");
  return answer;
}

// The web searches the emulated model runs: one where the call offers a web search tool, none
// where max_tool_calls allows none. What they found is not in the usage reported, as on the mini
// models, which OpenAI bills a search's content apart as a fixed block of input tokens.
int64_t WebSearches(const json::object& o) {
  const auto* tools = o.if_contains("tools");
  if (!tools || !tools->is_array()) return 0;
  for (const auto& t : tools->get_array()) {
    const auto* type = t.is_object() ? t.get_object().if_contains("type") : nullptr;
    if (type && type->is_string() && type->get_string().starts_with("web_search"))
      return std::min<int64_t>(1, IntOr(o, "max_tool_calls", 1));
  }
  return 0;
}

json::object ResponseObject(const std::string& id, const json::value& model, std::string_view status,
                            const std::string& text, int64_t in, int64_t out, std::string_view tier,
                            int64_t searches = 0) {
  bool ended = status == "completed" || status == "incomplete";
  json::array output;
  for (int64_t i = 0; ended && i < searches; ++i)
    output.push_back(json::object{{"type", "web_search_call"},
                                  {"id", "ws_" + id + std::to_string(i)},
                                  {"status", "completed"},
                                  {"action", {{"type", "search"}, {"query", "mock search"}}}});
  if (ended)
    output.push_back(json::object{
        {"type", "message"},
        {"id", "msg_" + id},
        {"status", status},
        {"role", "assistant"},
        {"content",
         json::array{json::object{{"type", "output_text"}, {"text", text}, {"annotations", json::array()}}}}});
  json::object r{
      {"id", "resp_" + id},     {"object", "response"},        {"created_at", UnixNow()},     {"status", status},
      {"model", model},         {"output", std::move(output)}, {"parallel_tool_calls", true}, {"tool_choice", "auto"},
      {"tools", json::array()}, {"service_tier", tier}};
  // An answer cut at max_output_tokens, as OpenAI reports one.
  r["incomplete_details"] =
      status == "incomplete" ? json::value{{"reason", "max_output_tokens"}} : json::value(nullptr);
  r["usage"] = ended ? json::value(json::object{{"input_tokens", in},
                                                {"input_tokens_details", {{"cached_tokens", 0}}},
                                                {"output_tokens", out},
                                                {"output_tokens_details", {{"reasoning_tokens", 0}}},
                                                {"total_tokens", in + out}})
                     : json::value(nullptr);
  return r;
}

MockAnswer Responses(const json::object& o, const MockOptions& options, std::string_view key) {
  if (!o.contains("model") || !o.at("model").is_string()) return Missing("model");
  std::string tier = ServedTier(o, options);
  if (tier.empty()) return BadTier();
  Quote quote = QuoteFor(o.at("model").get_string());
  if (quote == Quote::kError && !Flag(o, "stream")) return QuotedKeyError(key);
  const auto* input = o.if_contains("input");
  if (!input) return Missing("input");
  Prompt prompt;
  if (input->is_string())
    CollectText(*input, prompt);
  else if (input->is_array())
    for (const auto& item : input->get_array())
      if (const auto* msg = item.if_object(); msg && msg->contains("content")) CollectText(msg->at("content"), prompt);
  bool truncated = false;
  std::string reply =
      quote == Quote::kNone ? ReplyTo(prompt, IntOr(o, "max_output_tokens", 0), truncated) : KeyQuote(key);
  int64_t in = EstimateTokens(prompt.all) + prompt.media_tokens + 4, out = EstimateTokens(reply);
  std::string id = RandomToken(12);
  std::string_view status = truncated ? "incomplete" : "completed";
  int64_t searches = WebSearches(o);
  if (!Flag(o, "stream"))
    return JsonAnswer(200, ResponseObject(id, o.at("model"), status, reply, in, out, tier, searches));
  MockAnswer answer;
  answer.content_type = "text/event-stream; charset=utf-8";
  int64_t seq = 0;
  auto event = [&](std::string_view type, json::object data) {
    data["type"] = type;
    data["sequence_number"] = seq++;
    return SseEvent(type, data);
  };
  answer.pieces.push_back(
      event("response.created", {{"response", ResponseObject(id, o.at("model"), "in_progress", "", 0, 0, tier)}}));
  if (quote == Quote::kError) {
    answer.pieces.push_back(event("error", {{"code", "server_error"}, {"message", KeyQuote(key)}, {"param", nullptr}}));
    return answer;
  }
  auto pieces = quote == Quote::kAnswer ? std::vector<std::string>{reply} : Split(reply, options.stream_chunks);
  for (auto& piece : pieces)
    answer.pieces.push_back(
        event("response.output_text.delta",
              {{"item_id", "msg_" + id}, {"output_index", 0}, {"content_index", 0}, {"delta", piece}}));
  answer.pieces.push_back(
      event("response.output_text.done",
            {{"item_id", "msg_" + id}, {"output_index", 0}, {"content_index", 0}, {"text", reply}}));
  answer.pieces.push_back(
      event(truncated ? "response.incomplete" : "response.completed",
            {{"response", ResponseObject(id, o.at("model"), status, reply, in, out, tier, searches)}}));
  return answer;
}

MockAnswer Embeddings(const json::object& o) {
  if (!o.contains("model")) return Missing("model");
  const auto* input = o.if_contains("input");
  if (!input) return Missing("input");
  std::vector<std::string> texts;
  if (input->is_string()) texts.emplace_back(input->get_string());
  if (input->is_array())
    for (const auto& t : input->get_array())
      if (t.is_string()) texts.emplace_back(t.get_string());
  const auto* format = o.if_contains("encoding_format");
  bool base64 = format && format->is_string() && format->get_string() == "base64";
  int dimensions = static_cast<int>(IntOr(o, "dimensions", 8));
  json::array data;
  int64_t tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto values = FakeEmbedding(texts[i], dimensions);
    tokens += EstimateTokens(texts[i]);
    json::value embedding;
    if (base64) {
      std::string_view bytes(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
      embedding = Base64Encode(bytes);
    } else {
      json::array a;
      for (float v : values) a.push_back(v);
      embedding = std::move(a);
    }
    data.push_back(json::object{{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  return JsonAnswer(200, json::object{{"object", "list"},
                                      {"data", std::move(data)},
                                      {"model", o.at("model")},
                                      {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

// A parameter only the GPT image models take: OpenAI runs one of them when the body names no model
// and holds one, and dall-e-2 refuses them.
std::optional<std::string> GptImageParameter(const json::object& o) {
  for (std::string_view name :
       {"background", "moderation", "output_format", "output_compression", "partial_images", "stream"})
    if (o.contains(name)) return std::string(name);
  auto is = [&](std::string_view name, std::initializer_list<std::string_view> values) {
    const auto* v = o.if_contains(name);
    return v && v->is_string() && std::find(values.begin(), values.end(), v->get_string()) != values.end();
  };
  if (is("quality", {"low", "medium", "high", "auto"})) return "quality";
  if (is("size", {"1536x1024", "1024x1536", "auto"})) return "size";
  return std::nullopt;
}

MockAnswer Images(const json::object& o) {
  const auto* prompt = o.if_contains("prompt");
  if (!prompt || !prompt->is_string()) return Missing("prompt");
  auto gpt_parameter = GptImageParameter(o);
  std::string model = o.contains("model") && o.at("model").is_string() ? std::string(o.at("model").get_string())
                      : gpt_parameter                                  ? "gpt-image-1"
                                                                       : "dall-e-2";
  if (model == "dall-e-2" && gpt_parameter)
    return JsonAnswer(400, OpenAIError("Unknown parameter: '" + *gpt_parameter + "' is not supported with dall-e-2.",
                                       "invalid_request_error", json::string(*gpt_parameter), "unknown_parameter"));
  int64_t n = IntOr(o, "n", 1);
  json::array data;
  bool gpt_image = model.starts_with("gpt-image");
  const auto* format = o.if_contains("response_format");
  bool b64 = gpt_image || (format && format->is_string() && format->get_string() == "b64_json");
  for (int64_t i = 0; i < n; ++i) {
    json::object image;
    if (b64)
      image["b64_json"] = Base64Encode("\x89PNG mock image");
    else
      image["url"] = "https://example.invalid/mock-image-" + std::to_string(i) + ".png";
    if (model == "dall-e-3") image["revised_prompt"] = prompt->get_string();
    data.push_back(std::move(image));
  }
  json::object answer{{"created", UnixNow()}, {"data", std::move(data)}};
  if (gpt_image) {
    int64_t in = EstimateTokens(prompt->get_string());
    answer["usage"] = {{"input_tokens", in},
                       {"output_tokens", 1056 * n},
                       {"total_tokens", in + 1056 * n},
                       {"input_tokens_details", {{"text_tokens", in}, {"image_tokens", 0}}}};
  }
  return JsonAnswer(200, answer);
}

// The text fields of a multipart form, and its file.
struct Form {
  std::map<std::string, std::string> fields;
  std::string_view file;  // in the request's body
  size_t file_bytes = 0;
  bool has_file = false;
};

uint32_t LittleEndian(std::string_view bytes) {
  uint32_t value = 0;
  for (size_t i = bytes.size(); i-- > 0;) value = value << 8 | static_cast<unsigned char>(bytes[i]);
  return value;
}

// How long the audio of a WAV file of PCM samples lasts, as a decoder finds it: the bytes from its
// samples' chunk to the file's end, over its bytes a second. nullopt for any other file.
std::optional<double> WavSeconds(std::string_view file) {
  if (file.size() < 12 || file.substr(0, 4) != "RIFF" || file.substr(8, 4) != "WAVE") return std::nullopt;
  double bytes_a_second = 0;
  for (size_t at = 12; at + 8 <= file.size();) {
    std::string_view id = file.substr(at, 4);
    size_t size = LittleEndian(file.substr(at + 4, 4));
    if (id == "data")
      return bytes_a_second > 0 ? std::optional<double>((file.size() - at - 8) / bytes_a_second) : std::nullopt;
    if (id == "fmt " && at + 24 <= file.size())  // sample rate x channels x bits / 8
      bytes_a_second = static_cast<double>(LittleEndian(file.substr(at + 12, 4))) *
                       LittleEndian(file.substr(at + 10, 2)) * LittleEndian(file.substr(at + 22, 2)) / 8;
    at += 8 + size + size % 2;
  }
  return std::nullopt;
}

std::optional<Form> ParseForm(const Request& req) {
  std::string type = Header(req, "content-type");
  size_t at = type.find("boundary=");
  if (at == std::string::npos) return std::nullopt;
  std::string boundary = type.substr(at + 9);
  if (!boundary.empty() && boundary.front() == '"') boundary = boundary.substr(1, boundary.find('"', 1) - 1);
  std::string_view body = req.body();
  std::string delimiter = "--" + boundary;
  Form form;
  size_t pos = body.find(delimiter);
  while (pos != std::string_view::npos) {
    size_t start = pos + delimiter.size();
    if (body.substr(start, 2) == "--") break;
    size_t headers_end = body.find("\r\n\r\n", start);
    size_t next = body.find("\r\n" + delimiter, start);
    if (headers_end == std::string_view::npos || next == std::string_view::npos) return std::nullopt;
    std::string_view headers = body.substr(start, headers_end - start);
    std::string_view value = body.substr(headers_end + 4, next - headers_end - 4);
    size_t name_at = headers.find("name=\"");
    if (name_at != std::string_view::npos) {
      std::string name(headers.substr(name_at + 6, headers.find('"', name_at + 6) - name_at - 6));
      if (headers.find("filename=") != std::string_view::npos) {
        form.has_file = true;
        form.file = value;
        form.file_bytes = value.size();
      } else {
        form.fields[name] = std::string(value);
      }
    }
    pos = next + 2;
  }
  return form;
}

// As OpenAI answers: whisper-1 reports the audio's duration (whole seconds, rounded up), the GPT-4o
// models the tokens they billed (all audio here, at 10 a second), and stream them when asked
// (`stream=true`), the usage in the last event.
MockAnswer Audio(const Request& req, bool translate, const MockOptions& options) {
  auto form = ParseForm(req);
  if (!form)
    return JsonAnswer(400, OpenAIError("Could not parse multipart form", "invalid_request_error", nullptr, nullptr));
  if (!form->fields.count("model")) return Missing("model");
  if (!form->has_file) return Missing("file");
  const std::string& model = form->fields["model"];
  bool whisper = model.starts_with("whisper");
  // A WAV file's own length; any other as if it were 16 kHz, 16-bit mono PCM.
  double seconds = WavSeconds(form->file).value_or(static_cast<double>(form->file_bytes) / 32000.0);
  std::string text =
      (translate ? "Mock translation of " : "Mock transcript of ") + std::to_string(form->file_bytes) + " bytes";
  json::object usage;
  if (whisper) {
    usage = {{"type", "duration"}, {"seconds", std::ceil(seconds)}};
  } else {
    int64_t audio = static_cast<int64_t>(seconds * 10) + 1, out = EstimateTokens(text);
    usage = {{"type", "tokens"},
             {"input_tokens", audio},
             {"input_token_details", {{"text_tokens", 0}, {"audio_tokens", audio}}},
             {"output_tokens", out},
             {"total_tokens", audio + out}};
  }
  if (!translate && !whisper && form->fields["stream"] == "true") {
    MockAnswer answer;
    answer.content_type = "text/event-stream";
    for (auto& piece : Split(text, options.stream_chunks))
      answer.pieces.push_back(SseEvent("", json::object{{"type", "transcript.text.delta"}, {"delta", piece}}));
    answer.pieces.push_back(
        SseEvent("", json::object{{"type", "transcript.text.done"}, {"text", text}, {"usage", usage}}));
    return answer;
  }
  json::object answer{{"text", text}};
  if (!translate) answer["usage"] = std::move(usage);
  auto format = form->fields.find("response_format");
  if (format != form->fields.end() && format->second == "text") {
    Response res(http::StatusCode::ok, 11);
    res.set(http::bhttp::field::content_type, "text/plain; charset=utf-8");
    res.body() = text;
    res.prepare_payload();
    return res;
  }
  return JsonAnswer(200, answer);
}

MockAnswer Speech(const json::object& o, const MockOptions& options) {
  if (!o.contains("model")) return Missing("model");
  const auto* input = o.if_contains("input");
  if (!input || !input->is_string()) return Missing("input");
  if (!o.contains("voice")) return Missing("voice");
  // A fake MP3: an ID3 tag, then bytes in proportion to the text.
  std::string audio = "ID3\x04";
  audio.resize(4 + input->get_string().size() * 64, '\x55');
  MockAnswer answer;
  answer.content_type = "audio/mpeg";
  answer.pieces = Split(audio, options.stream_chunks);
  return answer;
}

MockAnswer Moderations(const json::object& o) {
  const auto* input = o.if_contains("input");
  if (!input) return Missing("input");
  std::string model = o.contains("model") && o.at("model").is_string() ? std::string(o.at("model").get_string())
                                                                       : "omni-moderation-latest";
  json::object categories, scores;
  for (const char* c : {"harassment", "hate", "self-harm", "sexual", "violence"}) {
    categories[c] = false;
    scores[c] = 0.0001;
  }
  json::object result{{"flagged", false}, {"categories", categories}, {"category_scores", scores}};
  return JsonAnswer(
      200, json::object{{"id", "modr-" + RandomToken(10)}, {"model", model}, {"results", json::array{result}}});
}

MockAnswer Models() {
  json::array data;
  for (auto id : kModels)
    data.push_back(json::object{{"id", id}, {"object", "model"}, {"created", 1700000000}, {"owned_by", "openai"}});
  return JsonAnswer(200, json::object{{"object", "list"}, {"data", std::move(data)}});
}

}  // namespace

MockAnswer OpenAIAnswer(const Request& req, std::string_view path, const MockOptions& options) {
  if (auto refused = RefuseKey(req, options)) return *refused;
  std::string key = GivenKey(req, "openai");
  if (req.method() == http::Verb::get && path == "/v1/models") return WithRequestId(Models());
  if (path == "/v1/audio/transcriptions" || path == "/v1/audio/translations")
    return WithRequestId(Audio(req, path.ends_with("translations"), options));
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec || !body.is_object()) return BadJson();
  const json::object& o = body.get_object();
  if (path == "/v1/chat/completions") return WithRequestId(Chat(o, options, key));
  if (path == "/v1/responses") return WithRequestId(Responses(o, options, key));
  if (path == "/v1/embeddings") return WithRequestId(Embeddings(o));
  if (path == "/v1/images/generations") return WithRequestId(Images(o));
  if (path == "/v1/audio/speech") return WithRequestId(Speech(o, options));
  if (path == "/v1/moderations") return WithRequestId(Moderations(o));
  return JsonAnswer(
      404, OpenAIError("Invalid URL (POST " + std::string(path) + ")", "invalid_request_error", nullptr, nullptr));
}

}  // namespace ap::mock
