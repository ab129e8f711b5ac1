#pragma once
// The provider-native paths the broker serves, in one table: which capability each one uses, where
// its model is named, whether it streams, and whether it takes a request from the grant's cap.
// Nothing reaches upstream on a path that is not in this table.

#include <optional>
#include <span>
#include <string_view>

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

// The Gemini endpoint for `action` (":generateContent"), if it is one we serve.
const NativeEndpoint* GeminiAction(std::string_view action);

}  // namespace ap::proxy
