#pragma once
// What the relay reads of a provider-native call's JSON body before it goes upstream.

#include <string>

#include "core/error.hpp"
#include "proxy/endpoints.hpp"
#include "proxy/worst_case.hpp"

namespace ap::proxy {

// The model, whether the app asked for a stream, and the body to send (changed only to ask
// OpenAI for usage in a stream, or to bound a paid tool's uses).
struct JsonCall {
  std::string model;
  bool stream = false;
  bool strip_usage_chunk = false;  // we asked OpenAI for the usage chunk; the app did not
  std::string body;
  WorstCase worst;
};

// Reads `body` for `ep`. `bound_tools`: the grant has a budget, so paid server-side tools get a
// bound on their uses. kBadRequest for a body the endpoint cannot take.
Result<JsonCall> ReadJsonCall(const NativeEndpoint& ep, std::string body, bool bound_tools);

}  // namespace ap::proxy
