#include "proxy/json_call.hpp"

#include <array>
#include <boost/json.hpp>
#include <optional>

#include "proxy/json_scan.hpp"

namespace ap::proxy {
namespace json = boost::json;
namespace {

using K = ScanKeep;
constexpr ScanRule kWhole{K::kAll};
constexpr ScanRule kShapeOnly{K::kShape};
constexpr ScanRule kKindOnly{K::kKind};

// A tool: its type, bound and model (Anthropic, OpenAI), and the names of its other members (Gemini
// names a tool by its key).
// OpenAI's shell tool runs where its environment's type says.
constexpr ScanMember kEnvironmentMembers[] = {{"type", &kWhole}};
constexpr ScanRule kEnvironment{K::kSelect, kEnvironmentMembers};
constexpr ScanMember kToolMembers[] = {{"type", &kWhole},
                                       {"max_uses", &kWhole},
                                       {"environment", &kEnvironment},
                                       {"cache_control", &kKindOnly},
                                       {"model", &kWhole}};
constexpr ScanRule kTool{K::kSelect, kToolMembers, &kShapeOnly};
// Gemini also takes one tool where it takes a list: an object kept as a tool is.
constexpr ScanRule kTools{K::kSelect, kToolMembers, &kShapeOnly, &kTool};
constexpr ScanMember kConfigMembers[] = {{"maxOutputTokens", &kWhole},    {"max_output_tokens", &kWhole},
                                         {"candidateCount", &kWhole},     {"candidate_count", &kWhole},
                                         {"thinkingConfig", &kShapeOnly}, {"thinking_config", &kShapeOnly},
                                         {"responseModalities", &kWhole}, {"response_modalities", &kWhole},
                                         {"speechConfig", &kShapeOnly},   {"speech_config", &kShapeOnly}};
constexpr ScanRule kConfig{K::kSelect, kConfigMembers};

// What a conversation holds besides text (request_limits.cpp's InputBeyondBytes): each message's
// or item's content (a string kept empty, or its parts), each part's type and cache mark, and the
// parts inside a part (a tool's result, a search result, a document's source), as deep as they go:
// Anthropic takes a cache mark on any of them.
extern const ScanRule kContent;
constexpr ScanMember kSourceMembers[] = {{"content", &kContent}};
constexpr ScanRule kSource{K::kSelectKind, kSourceMembers};
constexpr ScanMember kPartMembers[] = {
    {"type", &kWhole}, {"content", &kContent}, {"source", &kSource}, {"cache_control", &kKindOnly}};
constexpr ScanRule kPart{K::kSelectKind, kPartMembers};
constexpr ScanRule kContent{K::kSelectKind, {}, nullptr, &kPart};
// A message (OpenAI's chat, Anthropic) or an input item (OpenAI's Responses).
constexpr ScanMember kMessageMembers[] = {{"type", &kWhole},
                                          {"content", &kContent},
                                          {"output", &kContent},
                                          {"audio", &kShapeOnly},
                                          {"encrypted_content", &kKindOnly}};
constexpr ScanRule kMessages{K::kSelectKind, {}, nullptr, &kPolicyMessage};
// Gemini: each part's members by name (their values by kind), and a function response's own parts.
// Google's JSON takes one value where it takes a list: an object kept as one element is.
constexpr ScanRule kGeminiInnerPart{K::kSelectKind, {}, &kKindOnly};
constexpr ScanRule kGeminiInnerParts{K::kSelectKind, {}, &kKindOnly, &kGeminiInnerPart};
constexpr ScanMember kGeminiResponseMembers[] = {{"parts", &kGeminiInnerParts}};
constexpr ScanRule kGeminiResponse{K::kSelectKind, kGeminiResponseMembers};
constexpr ScanMember kGeminiPartMembers[] = {{"functionResponse", &kGeminiResponse},
                                             {"function_response", &kGeminiResponse}};
constexpr ScanRule kGeminiPart{K::kSelectKind, kGeminiPartMembers, &kKindOnly};
constexpr ScanRule kGeminiParts{K::kSelectKind, kGeminiPartMembers, &kKindOnly, &kGeminiPart};
constexpr ScanMember kGeminiContentMembers[] = {{"parts", &kGeminiParts}};
constexpr ScanRule kGeminiContent{K::kSelectKind, kGeminiContentMembers};
constexpr ScanRule kGeminiContents{K::kSelectKind, kGeminiContentMembers, nullptr, &kGeminiContent};

// Gemini's batchEmbedContents: the model each request names; countTokens: the model of the
// request it counts.
constexpr ScanMember kNestedRequestMembers[] = {{"model", &kWhole}};
constexpr ScanRule kNestedRequest{K::kSelect, kNestedRequestMembers};
constexpr ScanRule kBatchRequests{K::kSelect, {}, nullptr, &kNestedRequest};

// Anthropic's context management: each edit's type (compaction is billed apart).
constexpr ScanMember kEditMembers[] = {{"type", &kWhole}};
constexpr ScanRule kEdit{K::kSelect, kEditMembers};
constexpr ScanRule kEdits{K::kSelect, {}, nullptr, &kEdit};
constexpr ScanMember kContextManagementMembers[] = {{"edits", &kEdits}};
constexpr ScanRule kContextManagement{K::kSelect, kContextManagementMembers};

// Every top-level member request_limits.cpp and ReadJsonCall read; presence-only ones by shape.
constexpr ScanMember kBodyMembers[] = {{"model", &kWhole},
                                       {"stream", &kWhole},
                                       {"stream_options", &kWhole},
                                       {"max_tokens", &kWhole},
                                       {"max_completion_tokens", &kWhole},
                                       {"max_output_tokens", &kWhole},
                                       {"n", &kWhole},
                                       {"max_tool_calls", &kWhole},
                                       {"size", &kWhole},
                                       {"quality", &kWhole},
                                       {"partial_images", &kWhole},
                                       {"tools", &kTools},
                                       {"web_search_options", &kShapeOnly},
                                       {"previous_response_id", &kShapeOnly},
                                       {"conversation", &kShapeOnly},
                                       {"prompt", &kShapeOnly},
                                       {"cachedContent", &kShapeOnly},
                                       {"cached_content", &kShapeOnly},
                                       {"generationConfig", &kConfig},
                                       {"generation_config", &kConfig},
                                       {"mcp_servers", &kShapeOnly},
                                       {"prediction", &kShapeOnly},
                                       {"modalities", &kWhole},
                                       {"audio", &kShapeOnly},
                                       {"service_tier", &kWhole},
                                       {"serviceTier", &kWhole},
                                       {"inference_geo", &kWhole},
                                       {"speed", &kWhole},
                                       {"thinking", &kWhole},
                                       {"background", &kWhole},
                                       {"context_management", &kContextManagement},
                                       {"cache_control", &kKindOnly},
                                       {"requests", &kBatchRequests},
                                       {"generateContentRequest", &kNestedRequest},
                                       {"generate_content_request", &kNestedRequest}};
constexpr ScanRule kCommonBody{K::kSelect, kBodyMembers};
// The conversation: its structure and parts, not its text.
constexpr ScanMember kConversationMembers[] = {{"messages", &kMessages},
                                               {"input", &kMessages},
                                               {"instructions", &kMessages},
                                               {"system", &kContent},
                                               {"contents", &kGeminiContents},
                                               {"systemInstruction", &kGeminiContent},
                                               {"system_instruction", &kGeminiContent}};
// Speech reads its `input` whole: it is priced by its characters.
constexpr ScanMember kSpeechMembers[] = {{"input", &kWhole}};
constexpr ScanRule kSpeechBody{K::kSelect, kSpeechMembers, nullptr, nullptr, &kCommonBody};

// Whether every model a Gemini body names beside its path (the request's `model`, each of a batch's
// `requests`, a token count's `generateContentRequest` under either of its names) is the path's
// (see ReadJsonCall); kBadRequest for one that is not, or is not a string.
Status NamesOnlyThePathModel(const json::object& o, std::string_view path_model) {
  auto check = [path_model](const json::value* model, const std::string& where) -> Status {
    if (!model || model->is_null()) return {};
    if (!model->is_string()) return MakeError(Errc::kBadRequest, QuotedName(where) + " must be a string");
    std::string_view named = model->get_string();
    if (named == path_model || (named.starts_with("models/") && named.substr(7) == path_model)) return {};
    return MakeError(Errc::kBadRequest,
                     where + " names " + QuotedName(named) + ", not the model in the path, " + QuotedName(path_model));
  };
  if (auto ok = check(o.if_contains("model"), "model"); !ok) return ok;
  for (const char* request : {"generateContentRequest", "generate_content_request"})
    if (const json::value* r = o.if_contains(request); r && r->is_object())
      if (auto ok = check(r->get_object().if_contains("model"), std::string(request) + ".model"); !ok) return ok;
  const json::value* requests = o.if_contains("requests");
  if (!requests || !requests->is_array()) return {};
  size_t i = 0;
  for (const json::value& r : requests->get_array()) {
    if (r.is_object())
      if (auto ok = check(r.get_object().if_contains("model"), "requests[" + std::to_string(i) + "].model"); !ok)
        return ok;
    ++i;
  }
  return {};
}

// Where the bounds the broker added, `include_usage` (`ask_usage`) and the model the broker named
// for the app (`named_model`, if any) go into the app's bytes.
// `app_options`: the app's stream_options as the scan kept it, if it sent one. The app's own
// members are left as it wrote them: written again, a number json::parse read as NaN or infinity
// would not be JSON. The body's members are looked through only where an addition goes inside one.
std::string WithAdditions(std::string body, const RequestedUse& asked, bool ask_usage, const json::value* app_options,
                          std::string_view named_model) {
  TextEdits edits;
  size_t root = FirstValue(body);
  if (!named_model.empty()) edits.SetMember(body, root, "model", json::serialize(json::string(named_model)));
  if (asked.bounded_tool_calls) edits.SetMember(body, root, "max_tool_calls", std::to_string(kDefaultToolUses));
  if (asked.tier_set) edits.SetMember(body, root, "service_tier", R"("default")", asked.tier_added);
  bool into_options = ask_usage && app_options && app_options->is_object();
  if (into_options || !asked.bounded_tools.empty())
    for (const JsonMember& m : ObjectMembers(body, root)) {
      std::string name = MemberName(m);
      if (into_options && name == "stream_options") edits.SetMember(body, m.value_begin, "include_usage", "true");
      if (name != "tools" || asked.bounded_tools.empty()) continue;  // tools bounded are in an array
      auto elements = ArrayElements(body, m.value_begin);
      for (size_t index : asked.bounded_tools)
        if (index < elements.size())
          edits.SetMember(body, elements[index].first, "max_uses", std::to_string(kDefaultToolUses));
    }
  if (ask_usage && !into_options)  // none, or one that is not an object: set whole
    edits.SetMember(body, root, "stream_options", R"({"include_usage":true})", !app_options);
  return edits.Empty() ? body : edits.Apply(body);
}

bool HasMember(std::string_view text, size_t object_begin, std::string_view name) {
  for (const JsonMember& m : ObjectMembers(text, object_begin))
    if (MemberName(m) == name) return true;
  return false;
}

}  // namespace

constexpr ScanRule kPolicyMessage{K::kSelectKind, kMessageMembers};
constexpr ScanRule kPolicyBody{K::kSelect, kConversationMembers, nullptr, nullptr, &kCommonBody};

std::string WithOutputLimit(std::string body, const NativeEndpoint& ep, int64_t limit, bool built_in) {
  std::string n = std::to_string(limit);
  TextEdits edits;
  size_t root = FirstValue(body);
  switch (ep.wire) {
    case Provider::kOpenAI:
      if (ep.path != OpenAIChatCompletions().path)
        edits.SetMember(body, root, "max_output_tokens", n);
      else if (built_in)
        edits.SetMember(body, root, "max_completion_tokens", n);
      else {  // whichever the server reads
        edits.SetMember(body, root, "max_tokens", n);
        if (HasMember(body, root, "max_completion_tokens")) edits.SetMember(body, root, "max_completion_tokens", n);
      }
      break;
    case Provider::kGoogle: {
      // Into the app's generationConfig, under whichever of its names it used.
      std::optional<JsonMember> config;
      for (const JsonMember& m : ObjectMembers(body, root))
        if (std::string name = MemberName(m); name == "generationConfig" || name == "generation_config") config = m;
      if (config && body[config->value_begin] == '{') {
        // Where the config names it already (null: no limit), under either spelling, it is replaced.
        std::string name = "maxOutputTokens";
        for (const JsonMember& m : ObjectMembers(body, config->value_begin))
          if (MemberName(m) == "max_output_tokens") name = "max_output_tokens";
        edits.SetMember(body, config->value_begin, name, n);
      } else
        edits.SetMember(body, root, config ? MemberName(*config) : "generationConfig",
                        R"({"maxOutputTokens":)" + n + "}");
      break;
    }
    case Provider::kAnthropic:
      return body;
  }
  return edits.Apply(body);
}

std::string WithMaxTokensCopied(std::string body) {
  size_t root = FirstValue(body);
  std::optional<JsonMember> completion;
  bool tokens_given = false, tokens_null = false;
  for (const JsonMember& m : ObjectMembers(body, root)) {
    std::string name = MemberName(m);
    if (name == "max_tokens") {
      tokens_given = true;
      tokens_null = std::string_view(body).substr(m.value_begin, m.value_end - m.value_begin) == "null";
    }
    if (name == "max_completion_tokens") completion = m;
  }
  // A max_tokens of null is no limit to such a server, whatever max_completion_tokens says.
  if (!completion || (tokens_given && !tokens_null)) return body;
  TextEdits edits;
  edits.SetMember(
      body, root, "max_tokens",
      std::string_view(body).substr(completion->value_begin, completion->value_end - completion->value_begin),
      !tokens_given);
  return edits.Apply(body);
}

Error GivenTwice(std::string_view member) {
  return MakeError(Errc::kBadRequest, QuotedName(member) + " is given twice");
}

Result<JsonCall> ReadJsonCall(const NativeEndpoint& ep, std::string body, bool bound_tools, std::string_view path_model,
                              Server server) {
  // The kept members of a usual body fit here: reading it allocates nothing.
  std::array<unsigned char, 2048> buffer;
  json::monotonic_resource arena(buffer.data(), buffer.size());
  bool speech = ep.wire == Provider::kOpenAI && ep.capability == "audio";
  // A conversation's parts matter only to a budget (MeteredCall bounds their input by the context
  // window): without one, only the members the rest of policy reads are kept.
  const ScanRule& rule = speech ? kSpeechBody : bound_tools ? kPolicyBody : kCommonBody;
  ScanResult scan = ScanJson(body, rule, Duplicates::kRefuse, &arena);
  if (!scan.duplicate.empty()) return GivenTwice(scan.duplicate);
  if (!scan.valid || !scan.value.is_object())
    return MakeError(Errc::kBadRequest, "The request body must be a JSON object");
  return ReadScannedCall(ep, std::move(body), scan.value.get_object(), bound_tools, path_model, server);
}

Result<JsonCall> ReadScannedCall(const NativeEndpoint& ep, std::string body, json::object& o, bool bound_tools,
                                 std::string_view path_model, Server server) {
  JsonCall call;
  // The model the provider runs when the body names none is named for it: the provider may choose
  // another by what else the body holds (OpenAI's images run a GPT image model, not dall-e-2, given
  // one of their parameters), and the broker checked the grant for and priced the one it named.
  std::string_view named_model;
  if (ep.model_in == ModelIn::kPath)
    if (auto same = NamesOnlyThePathModel(o, path_model); !same) return same.error();
  if (ep.model_in == ModelIn::kJsonBody) {
    const json::value* model = o.if_contains("model");
    if (model && model->is_string() && !model->get_string().empty())
      call.model = model->get_string();
    else if (model && !model->is_null())
      return MakeError(Errc::kBadRequest, "'model' must be a non-empty string");
    else if (!ep.default_model.empty())
      call.model = named_model = ep.default_model;
    else
      return MakeError(Errc::kBadRequest, "'model' is required");
  }
  if (ep.counted) {
    auto read = ReadRequestedUse(ep.wire, ep.capability, o, bound_tools, server);
    if (!read) return read.error();
    call.asked = std::move(*read);
  }
  const json::value* stream = o.if_contains("stream");
  if (stream && !stream->is_bool() && !stream->is_null())
    return MakeError(Errc::kBadRequest, "'stream' must be true or false");
  call.stream = ep.streams == Streams::kWhenAsked && stream && stream->is_bool() && stream->get_bool();
  const json::value* options = o.if_contains("stream_options");
  if (call.stream && ep.wire == Provider::kOpenAI && ep.path == OpenAIChatCompletions().path) {
    const json::value* include =
        options && options->is_object() ? options->get_object().if_contains("include_usage") : nullptr;
    call.strip_usage_chunk = !(include && include->is_bool() && include->get_bool());
  }
  if (call.asked.body_changed || call.strip_usage_chunk || !named_model.empty())
    call.body = WithAdditions(std::move(body), call.asked, call.strip_usage_chunk, options, named_model);
  else
    call.body = std::move(body);
  return call;
}

}  // namespace ap::proxy
