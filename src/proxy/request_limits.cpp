#include "proxy/request_limits.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

#include "core/money.hpp"

namespace ap::proxy {
namespace json = boost::json;
namespace {

Error Invalid(std::string_view field, std::string_view why) {
  return MakeError(Errc::kBadRequest, "'" + std::string(field) + "' " + std::string(why));
}

// A whole number in [1, most], as the provider reads it: a JSON integer, or an integral float;
// Gemini's proto3 JSON also takes a decimal string. Absent or null: nullopt.
Result<std::optional<int64_t>> WholeNumber(Provider wire, const json::value* v, std::string_view field, int64_t most) {
  if (!v || v->is_null()) return std::optional<int64_t>();
  std::optional<double> n;
  if (v->is_int64()) n = static_cast<double>(v->get_int64());
  if (v->is_uint64()) n = static_cast<double>(v->get_uint64());
  if (v->is_double() && std::floor(v->get_double()) == v->get_double()) n = v->get_double();
  if (v->is_string() && wire == Provider::kGoogle) {
    std::string_view s = v->get_string();
    if (!s.empty() && s.size() <= 12 &&
        std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
      n = std::stod(std::string(s));
  }
  if (!n || *n < 1 || *n > static_cast<double>(most))
    return Invalid(field, "must be a whole number from 1 to " + std::to_string(most));
  return std::optional<int64_t>(static_cast<int64_t>(*n));
}

// Gemini reads each field by its JSON name (maxOutputTokens) and its proto name (max_output_tokens).
std::string ProtoName(std::string_view json_name) {
  std::string out;
  for (char c : json_name) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

// The field under either of its Gemini names; both present is ambiguous and refused.
Result<const json::value*> GeminiField(const json::object& o, std::string_view json_name) {
  std::string proto = ProtoName(json_name);
  const json::value* a = o.if_contains(json_name);
  const json::value* b = proto == json_name ? nullptr : o.if_contains(proto);
  if (a && b) return Invalid(json_name, "is given twice (also as '" + proto + "')");
  return a ? a : b;
}

// A whole number under either of its Gemini names.
Result<std::optional<int64_t>> GeminiWholeNumber(const json::object& o, std::string_view json_name, int64_t most) {
  auto field = GeminiField(o, json_name);
  if (!field) return field.error();
  return WholeNumber(Provider::kGoogle, *field, json_name, most);
}

Result<std::optional<int64_t>> Largest(Provider wire, const json::object& o, std::initializer_list<const char*> fields,
                                       int64_t most) {
  std::optional<int64_t> largest;
  for (const char* field : fields) {
    auto n = WholeNumber(wire, o.if_contains(field), field, most);
    if (!n) return n.error();
    if (*n && (!largest || **n > *largest)) largest = *n;
  }
  return largest;
}

using Tools = std::vector<std::pair<std::string, int64_t>>;

// "web_search_20250305" -> "web_search": a versioned tool type without its version.
std::string_view WithoutVersion(std::string_view type) {
  size_t underscore = type.find_last_of('_');
  return underscore == std::string_view::npos ? type : type.substr(0, underscore);
}

// ---- Input the body's bytes do not bound ----
// A token is at least a byte of text, but not of an image, a sound, a document or a fetched page:
// a part that is not text (inline or by reference) may cost the model far more tokens than it
// takes bytes. Each provider's text parts are listed; anything else counts as such a part.

bool IsOneOf(std::string_view s, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

std::string_view TypeOf(const json::value& v) {
  const json::object* o = v.if_object();
  const json::value* type = o ? o->if_contains("type") : nullptr;
  return type && type->is_string() ? std::string_view(type->get_string()) : std::string_view();
}

// What a server-side tool named `name` is called where it makes a call's input exceed its bytes.
std::string ServerTool(std::string_view name) { return "the server-side tool " + QuotedName(name); }

// What in `content` (absent, null, a string, or an array of parts) is not text of `text_types`;
// `inner`: a part whose own content may hold parts (a tool's result), read by `inner_types`.
std::optional<std::string> NotText(const json::value* content, std::initializer_list<std::string_view> text_types,
                                   std::string_view inner = {},
                                   std::initializer_list<std::string_view> inner_types = {}) {
  if (!content || content->is_null() || content->is_string()) return std::nullopt;
  if (!content->is_array()) return "content that is neither text nor parts";
  for (const json::value& part : content->get_array()) {
    std::string_view type = TypeOf(part);
    if (!inner.empty() && type == inner) {
      if (auto beyond = NotText(part.get_object().if_contains("content"), inner_types)) return beyond;
      continue;
    }
    if (!IsOneOf(type, text_types))
      return type.empty() ? std::string("a part with no type") : "a part of type " + QuotedName(type);
  }
  return std::nullopt;
}

// The Responses API's input or instructions: a string, or items.
std::optional<std::string> ItemsNotText(const json::value* items) {
  if (!items || !items->is_array()) return std::nullopt;
  static const auto kText = {std::string_view("input_text"), std::string_view("output_text"),
                             std::string_view("refusal"), std::string_view("summary_text")};
  for (const json::value& item : items->get_array()) {
    std::string_view type = TypeOf(item);
    if (type.empty() || type == "message") {
      if (!item.is_object()) return "an input item that is not an object";
      // Without content, an item names a stored one by its id (an item reference's type is optional).
      if (!item.get_object().contains("content")) return "an input item read by its id";
      if (auto beyond = NotText(item.get_object().if_contains("content"), kText)) return beyond;
    } else if (type == "function_call_output" || type == "custom_tool_call_output") {
      if (auto beyond = NotText(item.get_object().if_contains("output"), kText)) return beyond;
    } else if (type == "reasoning") {
      // Passed back with its encrypted content, or looked up by its id among stored items.
      const json::value* encrypted = item.get_object().if_contains("encrypted_content");
      if (!encrypted || !encrypted->is_string()) return "a reasoning item read by its id";
    } else if (type != "function_call" && type != "custom_tool_call") {
      return "an input item of type " + QuotedName(type);
    }
  }
  return std::nullopt;
}

std::optional<std::string> OpenAINotText(const json::object& body) {
  if (const json::value* messages = body.if_contains("messages"); messages && messages->is_array())
    for (const json::value& m : messages->get_array()) {
      const json::object* message = m.if_object();
      if (!message) continue;  // the provider refuses it
      if (const json::value* audio = message->if_contains("audio"); audio && !audio->is_null())
        return "an earlier answer's audio";
      if (auto beyond = NotText(message->if_contains("content"), {"text", "refusal"})) return beyond;
    }
  if (auto beyond = ItemsNotText(body.if_contains("input"))) return beyond;
  return ItemsNotText(body.if_contains("instructions"));
}

std::optional<std::string> AnthropicNotText(const json::object& body) {
  if (auto beyond = NotText(body.if_contains("system"), {"text"})) return beyond;
  const json::value* messages = body.if_contains("messages");
  if (!messages || !messages->is_array()) return std::nullopt;
  for (const json::value& m : messages->get_array())
    if (const json::object* message = m.if_object())
      if (auto beyond = NotText(message->if_contains("content"), {"text", "tool_use", "thinking", "redacted_thinking"},
                                "tool_result", {"text"}))
        return beyond;
  return std::nullopt;
}

// Whether an Anthropic request marks anything for its prompt cache (cache_control at its top, on
// a tool, or on a part of its system prompt or messages, or on a part inside one of those, as deep
// as they go: a tool result's, a search result's, a document source's): then its input may be
// billed as cache writes, at up to twice the input price.
bool MarksCache(const json::value& v) {
  const json::object* o = v.if_object();
  const json::value* mark = o ? o->if_contains("cache_control") : nullptr;
  return mark && !mark->is_null();
}

bool AnyPartMarksCache(const json::value* content) {
  if (!content || !content->is_array()) return false;
  return std::any_of(content->get_array().begin(), content->get_array().end(), [](const json::value& part) {
    const json::object* o = part.if_object();
    if (!o) return false;
    const json::value* source = o->if_contains("source");
    return MarksCache(part) || AnyPartMarksCache(o->if_contains("content")) ||
           (source && source->is_object() && AnyPartMarksCache(source->get_object().if_contains("content")));
  });
}

bool AnthropicWritesCache(const json::object& body) {
  if (const json::value* mark = body.if_contains("cache_control"); mark && !mark->is_null()) return true;
  if (const json::value* tools = body.if_contains("tools"); tools && tools->is_array())
    if (std::any_of(tools->get_array().begin(), tools->get_array().end(), MarksCache)) return true;
  if (AnyPartMarksCache(body.if_contains("system"))) return true;
  const json::value* messages = body.if_contains("messages");
  if (!messages || !messages->is_array()) return false;
  return std::any_of(messages->get_array().begin(), messages->get_array().end(), [](const json::value& m) {
    return m.is_object() && AnyPartMarksCache(m.get_object().if_contains("content"));
  });
}

// Gemini names a part's kind by its member: text, a function's call or response, code the model
// ran and its result are text; inline data and files are not. Google's JSON takes one value where
// it takes a list (`parts`, `contents`, `tools`): a single object is read as a list of one.
template <class Each>
void ForEachOf(const json::value& list, Each each) {
  if (const json::object* one = list.if_object()) return each(*one);
  for (const json::value& element : list.get_array())
    if (const json::object* o = element.if_object()) each(*o);
}
bool IsListOrOne(const json::value* v) { return v && (v->is_array() || v->is_object()); }

std::optional<std::string> GeminiPartsNotText(const json::value* parts, bool in_response) {
  using V = std::string_view;
  static const auto kGeminiText = {V("text"),
                                   V("thought"),
                                   V("thoughtSignature"),
                                   V("thought_signature"),
                                   V("functionCall"),
                                   V("function_call"),
                                   V("executableCode"),
                                   V("executable_code"),
                                   V("codeExecutionResult"),
                                   V("code_execution_result")};
  if (!parts || parts->is_null()) return std::nullopt;
  if (!IsListOrOne(parts)) return "parts that are neither a list nor a part";
  if (parts->is_array() && std::any_of(parts->get_array().begin(), parts->get_array().end(),
                                       [](const json::value& p) { return !p.is_object(); }))
    return "a part that is not an object";
  std::optional<std::string> beyond;
  ForEachOf(*parts, [&](const json::object& part) {
    for (const auto& [key, value] : part) {
      if (beyond) return;
      if (!in_response && (key == "functionResponse" || key == "function_response")) {
        const json::object* response = value.if_object();
        beyond = GeminiPartsNotText(response ? response->if_contains("parts") : nullptr, true);
      } else if (!IsOneOf(key, kGeminiText)) {
        beyond = "a part holding " + QuotedName(key);
      }
    }
  });
  return beyond;
}

Result<std::optional<std::string>> GeminiNotText(const json::object& body) {
  auto system = GeminiField(body, "systemInstruction");
  if (!system) return system.error();
  if (*system && (*system)->is_object())
    if (auto beyond = GeminiPartsNotText((*system)->get_object().if_contains("parts"), false)) return beyond;
  const json::value* contents = body.if_contains("contents");
  if (!IsListOrOne(contents)) return std::optional<std::string>();
  std::optional<std::string> beyond;
  ForEachOf(*contents, [&](const json::object& content) {
    if (!beyond) beyond = GeminiPartsNotText(content.if_contains("parts"), false);
  });
  return beyond;
}

// Anthropic puts in the prompt of a call that offers tools a system prompt of its own (some 350
// tokens on Claude 4), and the definitions of the client tools it defines itself (bash some 250
// tokens, the text editor 700, computer use 735 and a system prompt of some 500): input the body's
// bytes do not hold, reserved with a margin.
constexpr int64_t kAnthropicToolPrompt = 500;
constexpr int64_t kAnthropicDefinedTool = 1500;

// A tool that names a model of its own runs it: the grant must allow that model too.
Status ReadToolModel(const json::object& tool, RequestedUse& use) {
  const json::value* model = tool.if_contains("model");
  if (!model || model->is_null()) return {};
  if (!model->is_string() || model->get_string().empty())
    return MakeError(Errc::kBadRequest, "A tool's 'model' must be a non-empty string");
  use.tool_models.emplace_back(model->get_string());
  return {};
}

// Anthropic: versioned server tools ("web_search_20250305"); client tools cost only tokens. Web
// search takes a bound on its uses (max_uses), added where `bound` asks for one and the app set none.
Status ReadAnthropicTools(json::object& body, bool bound, Tools& tools, RequestedUse& use) {
  if (const json::value* servers = body.if_contains("mcp_servers"); servers && !servers->is_null())
    use.unbounded_input = "mcp_servers";  // remote MCP servers' results, with no bound on their calls
  json::value* list = body.if_contains("tools");
  if (!list || !list->is_array()) return {};
  if (!list->get_array().empty()) use.hidden_input_tokens += kAnthropicToolPrompt;
  static constexpr std::string_view kDefinedClientTools[] = {"bash_", "text_editor_", "computer_", "memory_"};
  for (size_t index = 0; index < list->get_array().size(); ++index) {
    json::object* tool = list->get_array()[index].if_object();
    if (tool)
      if (auto model = ReadToolModel(*tool, use); !model) return model;
    const json::value* type = tool ? tool->if_contains("type") : nullptr;
    if (!type || !type->is_string()) continue;  // a custom tool: the app runs it
    std::string_view name = type->get_string();
    if (name == "custom") continue;  // defined in the body
    if (std::any_of(std::begin(kDefinedClientTools), std::end(kDefinedClientTools),
                    [&](auto p) { return name.starts_with(p); })) {
      use.hidden_input_tokens += kAnthropicDefinedTool;  // the app runs it; Anthropic defines it
      continue;
    }
    // A server-side tool: its results go back to the model as input.
    if (name.starts_with("code_execution_")) use.tool_runs_code = "code_execution";
    auto uses = WholeNumber(Provider::kAnthropic, tool->if_contains("max_uses"), "max_uses", kMaxToolUses);
    if (!uses) return uses.error();
    bool add_bound = !*uses && bound && (name.starts_with("web_search_") || name.starts_with("web_fetch_"));
    use.tool_turns += uses->value_or(kDefaultToolUses);
    if (!use.input_beyond_bytes) use.input_beyond_bytes = ServerTool(name);
    if (!name.starts_with("web_fetch_"))  // fetched pages are billed as input tokens only
      tools.emplace_back(WithoutVersion(name), uses->value_or(kDefaultToolUses));
    if (add_bound) {  // last: a member added to the tool may move the text `name` views
      (*tool)["max_uses"] = kDefaultToolUses;
      use.body_changed = true;
      use.bounded_tools.push_back(index);
    }
  }
  return {};
}

// The shell tool runs where its environment says: the app's own computer ("local", or none, as the
// tool was first offered), or a container OpenAI provisions and bills for.
bool RunsInOpenAIsContainer(const json::object& shell) {
  const json::value* environment = shell.if_contains("environment");
  if (!environment || environment->is_null()) return false;
  const json::value* type = environment->is_object() ? environment->get_object().if_contains("type") : nullptr;
  return !(type && type->is_string() && type->get_string() == "local");
}

// OpenAI: built-in tools of the Responses API, all bounded together by max_tool_calls, added where
// `bound` asks for one and the app set none.
Status ReadOpenAITools(json::object& body, bool bound, Tools& tools, RequestedUse& use) {
  if (body.contains("web_search_options")) {  // search models: one search, whose results the model reads
    tools.emplace_back("web_search_options", 1);
    use.tool_turns += 1;
    use.input_beyond_bytes = "web_search_options";
  }
  json::value* list = body.if_contains("tools");
  if (!list || !list->is_array()) return {};
  // The app runs these; what they return comes back in its next request's body.
  static constexpr std::string_view kClientTools[] = {"function",    "custom", "computer_use_preview", "computer_use",
                                                      "local_shell", "shell",  "apply_patch"};
  Tools offered;
  std::optional<std::string> server_tool;
  for (const json::value& item : list->get_array()) {
    const json::object* tool = item.if_object();
    if (tool)
      if (auto model = ReadToolModel(*tool, use); !model) return model;
    const json::value* type = tool ? tool->if_contains("type") : nullptr;
    if (!type || !type->is_string()) continue;
    std::string_view name = type->get_string();
    if (name == "image_generation") {
      use.tool_makes_images = true;
      const json::value* model = tool->if_contains("model");
      if (!model || model->is_null()) use.tool_model_unnamed = true;
    }
    if (name == "code_interpreter" || (name == "shell" && RunsInOpenAIsContainer(*tool))) use.tool_runs_code = name;
    if (std::find(std::begin(kClientTools), std::end(kClientTools), name) != std::end(kClientTools) &&
        !(name == "shell" && RunsInOpenAIsContainer(*tool)))
      continue;
    if (!server_tool) server_tool = std::string(name);
    if (name == "mcp") continue;  // a remote MCP server: its results are billed as input tokens only
    if (name.starts_with("web_search_preview"))
      name = "web_search_preview";
    else if (name.starts_with("web_search"))
      name = "web_search";
    offered.emplace_back(std::string(name), 0);
  }
  if (!server_tool) return {};
  // max_tool_calls bounds the calls of every built-in tool together, MCP's among them.
  auto uses = WholeNumber(Provider::kOpenAI, body.if_contains("max_tool_calls"), "max_tool_calls", kMaxToolUses);
  if (!uses) return uses.error();
  if (!*uses && bound) {
    body["max_tool_calls"] = kDefaultToolUses;
    use.body_changed = use.bounded_tool_calls = true;
  }
  int64_t calls = uses->value_or(kDefaultToolUses);
  use.tool_turns += calls;
  if (!use.input_beyond_bytes) use.input_beyond_bytes = ServerTool(*server_tool);
  // Any one tool may take every call: each is reserved for all of them.
  for (auto& [name, n] : offered) tools.emplace_back(std::move(name), calls);
  return {};
}

// Gemini: each tool object names its kind by its key ("googleSearch" or "google_search").
Status ReadGeminiTools(const json::object& body, int64_t answers, Tools& tools, RequestedUse& use) {
  auto list = GeminiField(body, "tools");
  if (!list) return list.error();
  if (!IsListOrOne(*list)) return {};
  static constexpr std::string_view kTokenOnly[] = {"code_execution", "url_context"};
  ForEachOf(**list, [&](const json::object& tool) {
    for (const auto& [key, _] : tool) {
      std::string name = ProtoName(key);
      if (name == "function_declarations") continue;  // the app runs them
      if (name == "code_execution") use.tool_runs_code = std::string(key);
      // A server-side tool: what it gives the model goes back as input (toolUsePromptTokenCount).
      // Gemini takes no bound on their uses: a few per answer are reserved, every search reported is
      // charged.
      use.tool_turns += kDefaultToolUses * answers;
      if (!use.input_beyond_bytes) use.input_beyond_bytes = ServerTool(key);
      if (std::find(std::begin(kTokenOnly), std::end(kTokenOnly), name) != std::end(kTokenOnly)) continue;
      if (name == "google_search_retrieval") name = "google_search";
      tools.emplace_back(std::move(name), kDefaultToolUses * answers);
    }
  });
  return {};
}

// OpenAI's service tier, on a grant with a budget. "priority" is billed above the table's rates:
// refused. A tier left to the project (none, null or "auto") is whatever the key's project is
// configured with, priority included: the standard tier ("default") is set in its place.
Status PinStandardTier(json::object& body, RequestedUse& use) {
  const json::value* tier = body.if_contains("service_tier");
  if (tier && tier->is_string() && tier->get_string() == "priority")
    return MakeError(Errc::kForbidden,
                     "'service_tier' 'priority' is billed above the rates the broker prices calls at, and this "
                     "grant has a budget");
  if (tier && !tier->is_null() && !(tier->is_string() && tier->get_string() == "auto")) return {};
  use.tier_added = tier == nullptr;
  use.tier_set = use.body_changed = true;
  body["service_tier"] = "default";
  return {};
}

// A declared server's service tier, on a grant with a budget: its names are its own (Groq's
// performance, flex) and the price table holds one price a model, so none may be asked for.
Status RefuseTier(const json::object& body) {
  const json::value* tier = body.if_contains("service_tier");
  if (!tier || tier->is_null()) return {};
  return MakeError(Errc::kForbidden,
                   "'service_tier' picks one of this server's tiers, which the broker's prices do not tell apart, "
                   "and this grant has a budget");
}

// Whether an OpenAI chat call asks for speech in its answer: 'modalities' naming "audio", or the
// 'audio' output settings. A modality other than "text" and "audio" is refused, not guessed.
Status ReadOpenAIModalities(const json::object& body, RequestedUse& use) {
  if (const json::value* audio = body.if_contains("audio"); audio && !audio->is_null()) use.answers_audio = true;
  const json::value* modalities = body.if_contains("modalities");
  if (!modalities || modalities->is_null()) return {};
  if (!modalities->is_array()) return Invalid("modalities", "must be an array");
  for (const json::value& m : modalities->get_array()) {
    if (m == "audio")
      use.answers_audio = true;
    else if (m != "text")
      return Invalid("modalities", "may hold only \"text\" and \"audio\"");
  }
  return {};
}

// What a Gemini call's generationConfig `c` asks its answer to hold beyond text. The protobuf JSON
// Google reads takes an enum's number as well as its name: anything but the names TEXT, IMAGE and
// AUDIO is refused, not guessed.
Status ReadGeminiModalities(const json::object& c, RequestedUse& use) {
  auto speech = GeminiField(c, "speechConfig");
  if (!speech) return speech.error();
  if (*speech && !(*speech)->is_null()) use.answers_audio = true;
  auto modalities = GeminiField(c, "responseModalities");
  if (!modalities) return modalities.error();
  if (!*modalities || (*modalities)->is_null()) return {};
  if (!(*modalities)->is_array()) return Invalid("responseModalities", "must be an array");
  for (const json::value& m : (*modalities)->get_array()) {
    if (m == "IMAGE")
      use.answers_images = true;
    else if (m == "AUDIO")
      use.answers_audio = true;
    else if (m != "TEXT")
      return Invalid("responseModalities", "may hold only \"TEXT\", \"IMAGE\" and \"AUDIO\"");
  }
  return {};
}

Status ReadOpenAI(std::string_view capability, json::object& body, bool bound_tools, Server server, RequestedUse& use) {
  if (capability == "images") {
    auto n = WholeNumber(Provider::kOpenAI, body.if_contains("n"), "n", kMaxImages);
    if (!n) return n.error();
    use.images = n->value_or(1);
    auto text = [&](const char* key, const char* fallback) {
      const json::value* v = body.if_contains(key);
      return v && v->is_string() ? std::string(v->get_string()) : std::string(fallback);
    };
    // What a call leaves out, as OpenAI reads it: DALL-E makes 1024x1024 images of standard
    // quality; the GPT image models choose ("auto"), and may choose the dearest size.
    const json::value* model = body.if_contains("model");
    bool dall_e = model && model->is_string() && model->get_string().starts_with("dall-e");
    use.image_kind = text("size", dall_e ? "1024x1024" : "auto") + "/" + text("quality", dall_e ? "standard" : "auto");
    // Each image of a stream may come first as up to 3 partial images, each billed apart; 0 asks
    // for none, and a call that does not stream gets none.
    const json::value* partial = body.if_contains("partial_images");
    if (partial && !(partial->is_number() && partial->to_number<double>() == 0)) {
      auto partials = WholeNumber(Provider::kOpenAI, partial, "partial_images", kMaxPartialImages);
      if (!partials) return partials.error();
      const json::value* stream = body.if_contains("stream");
      if (stream && stream->is_bool() && stream->get_bool()) use.partial_images = partials->value_or(0) * use.images;
    }
    use.input_in_tokens = true;  // gpt-image-1 bills its prompt's tokens too
    return {};
  }
  if (capability == "audio") {  // speech: priced by the characters of its input
    if (const auto* input = body.if_contains("input"); input && input->is_string())
      use.characters = static_cast<int64_t>(input->get_string().size());
    return {};
  }
  use.input_in_tokens = true;
  if (capability != "chat") return {};
  use.writes_text = true;
  if (auto modalities = ReadOpenAIModalities(body, use); !modalities) return modalities;
  if (bound_tools)
    if (auto tier = server == Server::kProvider ? PinStandardTier(body, use) : RefuseTier(body); !tier) return tier;
  // A background response runs on after the call ends: what it goes on to spend never passes here.
  if (const json::value* background = body.if_contains("background");
      bound_tools && background && !background->is_null() && !(background->is_bool() && !background->get_bool()))
    return MakeError(Errc::kForbidden,
                     "'background' runs the response on after this call ends, beyond what the broker can meter, and "
                     "this grant has a budget");
  // Server-side compaction (Responses): a pass over the conversation that writes its summary, which
  // the answer's usage is not known to hold.
  if (const json::value* management = body.if_contains("context_management");
      bound_tools && management && !management->is_null())
    return MakeError(Errc::kForbidden,
                     "'context_management' (server-side compaction) runs a pass beyond what the broker can meter, "
                     "and this grant has a budget");
  // Predicted output: what of it the answer does not use is billed as output too.
  if (const json::value* prediction = body.if_contains("prediction"); prediction && !prediction->is_null())
    use.output_echoes_body = true;
  auto limit =
      Largest(Provider::kOpenAI, body, {"max_tokens", "max_completion_tokens", "max_output_tokens"}, kMaxTokens);
  if (!limit) return limit.error();
  use.output_tokens = *limit;
  for (const char* stored : {"previous_response_id", "conversation", "prompt"})
    if (const auto* v = body.if_contains(stored); v && !v->is_null()) use.unbounded_input = stored;
  if (const auto* prompt = body.if_contains("prompt"); prompt && !prompt->is_null()) use.stored_setup = "prompt";
  auto n = WholeNumber(Provider::kOpenAI, body.if_contains("n"), "n", kMaxAnswers);
  if (!n) return n.error();
  use.answers = n->value_or(1);
  use.input_beyond_bytes = OpenAINotText(body);
  return ReadOpenAITools(body, bound_tools, use.tools, use);
}

// Anthropic's first context-management edit that compacts the conversation (type compact_*).
const json::value* CompactionEdit(const json::object& body) {
  const json::value* management = body.if_contains("context_management");
  const json::value* edits =
      management && management->is_object() ? management->get_object().if_contains("edits") : nullptr;
  if (!edits || !edits->is_array()) return nullptr;
  for (const json::value& edit : edits->get_array())
    if (TypeOf(edit).starts_with("compact")) return &edit;
  return nullptr;
}

Status ReadAnthropic(std::string_view capability, json::object& body, bool bound_tools, RequestedUse& use) {
  use.input_in_tokens = true;
  if (capability != "chat") return {};
  use.writes_text = true;
  // Fast mode bills the token prices several times over (six on Opus 4.6).
  if (const json::value* speed = body.if_contains("speed");
      bound_tools && speed && !speed->is_null() && !(speed->is_string() && speed->get_string() == "standard"))
    return MakeError(Errc::kForbidden,
                     "'speed' other than 'standard' (fast mode) is billed above the rates the broker prices calls at, "
                     "and this grant has a budget");
  // Compaction summarizes the conversation in a pass of its own, billed beyond the answer's usage.
  if (const json::value* compaction = CompactionEdit(body); bound_tools && compaction)
    return MakeError(Errc::kForbidden, "'context_management' edit " + QuotedName(TypeOf(*compaction)) +
                                           " (compaction) is billed in a pass beyond the answer's usage, and this "
                                           "grant has a budget");
  // Claude 4 streams a summary of its thinking, and bills the thinking.
  if (const json::value* thinking = body.if_contains("thinking"); thinking && thinking->is_object())
    use.reasons_unseen = TypeOf(*thinking) != "disabled";
  if (const json::value* geo = body.if_contains("inference_geo"); geo && !geo->is_null())
    use.inference_geo =
        geo->is_string() && geo->get_string() == "global" ? RequestedUse::Geo::kGlobal : RequestedUse::Geo::kOne;
  auto limit = WholeNumber(Provider::kAnthropic, body.if_contains("max_tokens"), "max_tokens", kMaxTokens);
  if (!limit) return limit.error();
  use.output_tokens = *limit;
  use.input_beyond_bytes = AnthropicNotText(body);
  use.writes_cache = AnthropicWritesCache(body);
  return ReadAnthropicTools(body, bound_tools, use.tools, use);
}

// Gemini's service tier, on a grant with a budget: only those billed at most the table's rates
// (standard, flex; unspecified is standard), by either of the field's names and the enum's own
// names. Priority (up to twice the rates), a number or any other value is refused: no project
// setting applies where the app names none.
Status RefuseDearerGeminiTier(const json::object& body) {
  auto tier = GeminiField(body, "serviceTier");
  if (!tier) return tier.error();
  if (!*tier || (*tier)->is_null()) return {};
  static constexpr std::string_view kAtTheTablesRates[] = {
      "standard", "flex", "unspecified", "SERVICE_TIER_STANDARD", "SERVICE_TIER_FLEX", "SERVICE_TIER_UNSPECIFIED"};
  if ((*tier)->is_string() && std::find(std::begin(kAtTheTablesRates), std::end(kAtTheTablesRates),
                                        std::string_view((*tier)->get_string())) != std::end(kAtTheTablesRates))
    return {};
  return MakeError(Errc::kForbidden,
                   "'serviceTier' other than 'standard' or 'flex' is billed above the rates the broker prices calls "
                   "at (priority: up to twice), and this grant has a budget");
}

Status ReadGemini(std::string_view capability, const json::object& body, bool bound_tools, RequestedUse& use) {
  use.input_in_tokens = true;
  if (capability != "chat") return {};
  use.writes_text = true;
  if (bound_tools)
    if (auto tier = RefuseDearerGeminiTier(body); !tier) return tier;
  auto cached = GeminiField(body, "cachedContent");
  if (!cached) return cached.error();
  if (*cached && !(*cached)->is_null()) use.unbounded_input = use.stored_setup = "cachedContent";
  auto config = GeminiField(body, "generationConfig");
  if (!config) return config.error();
  if (*config && (*config)->is_object()) {
    const json::object& c = (*config)->get_object();
    auto limit = GeminiWholeNumber(c, "maxOutputTokens", kMaxTokens);
    if (!limit) return limit.error();
    use.output_tokens = *limit;
    auto count = GeminiWholeNumber(c, "candidateCount", kMaxAnswers);
    if (!count) return count.error();
    use.answers = count->value_or(1);
    // A model asked to think streams nothing until it has (2.5 Flash-Lite too, which does not by
    // default): see metering::Price::reasons_unseen.
    auto thinking = GeminiField(c, "thinkingConfig");
    if (!thinking) return thinking.error();
    use.reasons_unseen = *thinking && !(*thinking)->is_null();
    if (auto modalities = ReadGeminiModalities(c, use); !modalities) return modalities;
  } else if (*config && !(*config)->is_null()) {
    return Invalid("generationConfig", "must be an object");
  }
  auto beyond = GeminiNotText(body);
  if (!beyond) return beyond.error();
  use.input_beyond_bytes = *beyond;
  return ReadGeminiTools(body, use.answers, use.tools, use);
}

}  // namespace

std::string QuotedName(std::string_view name) {
  constexpr size_t kMostShown = 64;
  size_t cut = std::min(name.size(), kMostShown);
  // Not inside a character: the message goes out as JSON, which must be UTF-8.
  while (cut < name.size() && cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
  return "'" + std::string(name.substr(0, cut)) + "'";
}

Result<RequestedUse> ReadRequestedUse(Provider wire, std::string_view capability, json::object& body, bool bound_tools,
                                      Server server) {
  RequestedUse use;
  Status read;
  switch (wire) {
    case Provider::kOpenAI:
      read = ReadOpenAI(capability, body, bound_tools, server, use);
      break;
    case Provider::kAnthropic:
      read = ReadAnthropic(capability, body, bound_tools, use);
      break;
    case Provider::kGoogle:
      read = ReadGemini(capability, body, bound_tools, use);
      break;
  }
  if (!read) return read.error();
  return use;
}

}  // namespace ap::proxy
