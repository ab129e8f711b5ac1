#pragma once
// The provider-native paths the broker serves, in one table: which capability each one uses, where
// its model is named, whether it streams, and whether it takes a request from the grant's cap.
// Nothing reaches upstream on a path that is not in this table.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "http/message.hpp"
#include "proxy/providers.hpp"

namespace ap::proxy {

enum class ModelIn { kNone, kJsonBody, kMultipart, kPath };
enum class Streams { kNever, kWhenAsked, kAlways };  // kWhenAsked: `"stream": true` in the body

struct NativeEndpoint {
  Provider wire;
  http::Verb method;
  // Under the provider's prefix ("/openai"), as the provider spells it. Gemini's model calls are
  // "models/{model}:<action>": their `path` is the action (":generateContent").
  std::string_view path;
  std::string_view capability;
  ModelIn model_in;
  std::string_view default_model;  // the provider's default when the body names none
  Streams streams;
  bool counted;  // takes a request from the grant's cap (token counting and listing are free)
};

std::span<const NativeEndpoint> NativeEndpoints();

// OpenAI's chat completions, which the reference's /proxy/chat also goes to.
const NativeEndpoint& OpenAIChatCompletions();

// Gemini's generateContent, which the reference's /proxy/chat goes to for Google.
const NativeEndpoint& GeminiGenerateContent();

// The Gemini endpoint for `action` (":generateContent"), if it is one we serve.
const NativeEndpoint* GeminiAction(std::string_view action);

// The query string to send upstream for a request target ("?alt=sse", or "" for none): only the
// parameters the SDKs send, each at most once, re-encoded so the provider reads exactly what the
// broker read; the app's `key` is dropped. kBadRequest for anything else: Google's system
// parameters (`fields`, `callback`, `$alt`, `$ct`...) would change the answer the broker meters.
Result<std::string> ForwardedQuery(std::string_view target);

}  // namespace ap::proxy
