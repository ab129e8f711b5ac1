#include "proxy/translate.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "proxy/endpoints.hpp"
#include "proxy/json_call.hpp"
#include "proxy/json_scan.hpp"

namespace ap::proxy {
namespace json = boost::json;
namespace {

constexpr std::string_view kRoles[] = {"system", "developer", "user", "assistant", "tool"};

Error Invalid(std::string field, std::string message) {
  return Error{Errc::kValidation, "Validation failed", {FieldError{std::move(field), std::move(message)}}};
}

// A message's content as plain text parts: a string, or OpenAI's array of {type:"text", text}.
// Returns the original value for anything else, so the provider can judge it.
json::array TextParts(const json::value& content, std::string_view text_key_type) {
  json::array parts;
  auto add_text = [&](json::string_view text) {
    if (text_key_type == "anthropic")
      parts.push_back(json::object{{"type", "text"}, {"text", text}});
    else
      parts.push_back(json::object{{"text", text}});
  };
  if (content.is_string()) {
    add_text(content.get_string());
  } else if (content.is_array()) {
    for (const auto& part : content.get_array()) {
      const auto* obj = part.if_object();
      const json::value* text = obj ? obj->if_contains("text") : nullptr;
      if (text && text->is_string())
        add_text(text->get_string());
      else
        parts.push_back(part);
    }
  }
  return parts;
}

// The text parts of a message's content, one to a line; parts that are not text are left out.
std::string JoinedText(const json::value& content) {
  if (content.is_string()) return std::string(content.get_string());
  std::string out;
  for (const auto& part : TextParts(content, "gemini")) {
    const auto* obj = part.if_object();  // a part that is not text comes back as the app sent it
    const auto* text = obj ? obj->if_contains("text") : nullptr;
    if (!text || !text->is_string()) continue;
    if (!out.empty()) out += "\n";
    out += text->get_string();
  }
  return out;
}

json::array StopList(const json::value& stop) {
  if (stop.is_string()) return json::array{stop};
  if (stop.is_array()) return stop.get_array();
  return {};
}

// Anthropic and Gemini take the system prompt apart from the turns of the conversation.
struct Conversation {
  std::string system;  // system and developer messages, joined
  std::vector<const json::object*> turns;
};

Conversation SplitConversation(const json::array& messages) {
  Conversation out;
  for (const auto& m : messages) {
    const auto& msg = m.get_object();
    std::string_view role = msg.at("role").get_string();
    if (role == "system" || role == "developer") {
      if (!out.system.empty()) out.system += "\n\n";
      out.system += JoinedText(msg.at("content"));
    } else {
      out.turns.push_back(&msg);
    }
  }
  return out;
}

bool Consumed(std::string_view key, std::initializer_list<std::string_view> keys) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// A request in a provider's shape, before the broker reads its limits (and may add bounds) from it.
struct Translated {
  std::string path;
  json::object body;
};

Translated ToAnthropic(const json::object& in, std::string_view model) {
  json::object out;
  out["model"] = model;
  json::array messages;
  Conversation conversation = SplitConversation(in.at("messages").get_array());
  for (const json::object* msg : conversation.turns) {
    bool assistant = msg->at("role").get_string() == "assistant";
    const auto& content = msg->at("content");
    messages.push_back(
        json::object{{"role", assistant ? "assistant" : "user"},
                     {"content", content.is_string() ? content : json::value(TextParts(content, "anthropic"))}});
  }
  const std::string& system = conversation.system;
  out["messages"] = std::move(messages);
  if (!system.empty()) out["system"] = system;
  // A null limit is no limit (as OpenAI reads it): the other field, or the default.
  const json::value* limit = in.if_contains("max_tokens");
  if (!limit || limit->is_null()) limit = in.if_contains("max_completion_tokens");
  out["max_tokens"] = limit && !limit->is_null() ? *limit : json::value(kDefaultAnthropicMaxTokens);
  if (const auto* stop = in.if_contains("stop"); stop && !stop->is_null()) out["stop_sequences"] = StopList(*stop);
  if (const auto* user = in.if_contains("user"); user && user->is_string())
    out["metadata"] = json::object{{"user_id", *user}};
  for (const auto& [key, value] : in)
    if (!Consumed(key, {"model", "messages", "max_tokens", "max_completion_tokens", "stop", "user"}) &&
        !out.contains(key))
      out[key] = value;
  return {"/v1/messages", std::move(out)};
}

Translated ToGemini(const json::object& in, std::string_view model) {
  json::object out;
  json::array contents;
  Conversation conversation = SplitConversation(in.at("messages").get_array());
  for (const json::object* msg : conversation.turns) {
    bool assistant = msg->at("role").get_string() == "assistant";
    contents.push_back(
        json::object{{"role", assistant ? "model" : "user"}, {"parts", TextParts(msg->at("content"), "gemini")}});
  }
  const std::string& system = conversation.system;
  out["contents"] = std::move(contents);
  if (!system.empty()) out["systemInstruction"] = json::object{{"parts", json::array{json::object{{"text", system}}}}};
  json::object config;
  if (const auto* g = in.if_contains("generationConfig"); g && g->is_object()) config = g->get_object();
  static constexpr std::pair<std::string_view, std::string_view> kMapped[] = {
      {"max_tokens", "maxOutputTokens"},
      {"max_completion_tokens", "maxOutputTokens"},
      {"temperature", "temperature"},
      {"top_p", "topP"},
      {"top_k", "topK"},
      {"n", "candidateCount"},
      {"seed", "seed"},
      {"presence_penalty", "presencePenalty"},
      {"frequency_penalty", "frequencyPenalty"}};
  for (const auto& [from, to] : kMapped)
    if (const auto* v = in.if_contains(from); v && !v->is_null()) config[to] = *v;
  if (const auto* stop = in.if_contains("stop"); stop && !stop->is_null()) config["stopSequences"] = StopList(*stop);
  if (!config.empty()) out["generationConfig"] = std::move(config);
  for (const auto& [key, value] : in) {
    bool mapped = std::any_of(std::begin(kMapped), std::end(kMapped), [&](const auto& m) { return m.first == key; });
    if (!mapped && !Consumed(key, {"model", "messages", "stop", "stream", "generationConfig"}) && !out.contains(key))
      out[key] = value;
  }
  return {"/v1beta/models/" + std::string(model) + ":generateContent", std::move(out)};
}

// Gemini takes the model in the path: allow only characters that cannot change the path.
bool SafePathSegment(std::string_view model) {
  if (model.empty() || model == "." || model == "..") return false;
  return std::all_of(model.begin(), model.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

// Whether every number in `v` is finite. json::parse reads 1e999 as infinity and 0e999 as NaN
// (where the providers read 0), which serialize would write as no JSON at all.
bool AllFinite(const json::value& v) {
  if (v.is_double()) return std::isfinite(v.get_double());
  if (const auto* a = v.if_array()) return std::all_of(a->begin(), a->end(), AllFinite);
  if (const auto* o = v.if_object())
    return std::all_of(o->begin(), o->end(), [](const json::key_value_pair& m) { return AllFinite(m.value()); });
  return true;
}

// What ChatRequest keeps: of each message its role and what policy keeps of it (its content's
// structure and part types, not its text), and every member policy reads (model and stream among
// them).
using K = ScanKeep;
constexpr ScanRule kWhole{K::kAll};
constexpr ScanMember kMessageMembers[] = {{"role", &kWhole}};
constexpr ScanRule kMessage{K::kSelectKind, kMessageMembers, nullptr, nullptr, &kPolicyMessage};
constexpr ScanRule kMessages{K::kSelect, {}, nullptr, &kMessage};
constexpr ScanMember kChatMembers[] = {{"messages", &kMessages}};
constexpr ScanRule kChat{K::kSelect, kChatMembers, nullptr, nullptr, &kPolicyBody};

}  // namespace

Status ChatRequest::Read(std::string_view body) {
  ScanResult scan = ScanJson(body, kChat, Duplicates::kRefuse, &arena_);
  if (!scan.duplicate.empty()) return GivenTwice(scan.duplicate);
  if (!scan.valid) return MakeError(Errc::kBadRequest, "Request body is not valid JSON");
  if (!scan.value.is_object()) return MakeError(Errc::kBadRequest, "Request body must be a JSON object");
  kept_ = std::move(scan.value);
  const json::object& o = kept_.get_object();
  const auto* model = o.if_contains("model");
  if (!model) return Invalid("model", "Required");
  if (!model->is_string() || model->get_string().empty()) return Invalid("model", "Expected a non-empty string");
  model_ = model->get_string();
  const auto* messages = o.if_contains("messages");
  if (!messages) return Invalid("messages", "Required");
  if (!messages->is_array() || messages->get_array().empty()) return Invalid("messages", "Expected a non-empty array");
  for (const auto& m : messages->get_array()) {
    const auto* msg = m.if_object();
    const json::value* role = msg ? msg->if_contains("role") : nullptr;
    const json::value* content = msg ? msg->if_contains("content") : nullptr;
    if (!role || !role->is_string() ||
        std::find(std::begin(kRoles), std::end(kRoles), role->get_string()) == std::end(kRoles))
      return Invalid("messages", "Each message needs a role: system, developer, user, assistant or tool");
    if (!content || !(content->is_string() || content->is_array()))
      return Invalid("messages", "Each message needs content: a string or an array of parts");
  }
  if (const auto* stream = o.if_contains("stream")) {
    if (!stream->is_bool()) return Invalid("stream", "Expected a boolean");
    stream_ = stream->get_bool();
  }
  return {};
}

std::string_view ChatRequest::ModelCalled(Provider provider) const {
  std::string_view model = model_;
  if (provider == Provider::kGoogle && model.starts_with("models/")) model.remove_prefix(7);
  return model;
}

Result<ChatCall> BuildChatCall(Provider provider, ChatRequest& request, std::string body, bool bound_tools,
                               Server server) {
  if (provider == Provider::kOpenAI) {
    auto call = ReadScannedCall(OpenAIChatCompletions(), std::move(body), request.Kept(), bound_tools, {}, server);
    if (!call) return call.error();
    return ChatCall{{std::string(OpenAIChatCompletions().path), std::move(call->body)}, std::move(call->asked)};
  }
  if (provider == Provider::kGoogle && !SafePathSegment(request.ModelCalled(provider)))
    return Invalid("model", "Not a valid Gemini model id");
  // Read above as json::parse reads it, each member read there given once in its object.
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return MakeError(Errc::kBadRequest, "Request body is not valid JSON");
  if (!AllFinite(parsed)) return MakeError(Errc::kBadRequest, "A number in the request body is out of range");
  const json::object& in = parsed.get_object();
  Translated out =
      provider == Provider::kAnthropic ? ToAnthropic(in, request.Model()) : ToGemini(in, request.ModelCalled(provider));
  auto asked = ReadRequestedUse(provider, "chat", out.body, bound_tools);
  if (!asked) return asked.error();
  return ChatCall{{std::move(out.path), json::serialize(out.body)}, std::move(*asked)};
}

}  // namespace ap::proxy
