#pragma once
// The reference's chat call, `{model, messages, ...}` in OpenAI's shape, and what it becomes for
// each provider. OpenAI gets the app's bytes unchanged; Anthropic and Gemini get the same request
// in their own shapes, with every parameter that has an equivalent mapped and the rest passed on.

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "proxy/providers.hpp"

namespace ap::proxy {

struct ChatRequest {
  boost::json::object body;
  std::string model;
  bool stream = false;
};

// Checks the body: a JSON object with a non-empty `model` string and a non-empty `messages`
// array of `{role, content}` objects. Failures are kValidation with the reference's field names.
Result<ChatRequest> ParseChatRequest(std::string_view body);

struct UpstreamCall {
  std::string path;  // appended to the provider's base URL
  std::string body;
};

// Anthropic requires max_tokens; this is what it gets when the app sets none.
inline constexpr int64_t kDefaultAnthropicMaxTokens = 4096;

// A chat call in the provider's shape, before it is sent: the broker reads its limits from `body`
// and may add bounds to it (request_limits.hpp), so nothing is parsed twice.
struct ChatCall {
  std::string path;  // appended to the provider's base URL
  boost::json::object body;
  std::string app_bytes;  // OpenAI's: the app's own bytes, sent as they came unless `body` changed

  // What goes upstream.
  UpstreamCall ToSend(bool body_changed) &&;
};

Result<ChatCall> BuildChatCall(Provider provider, ChatRequest request, std::string_view raw_body);

}  // namespace ap::proxy
