#pragma once
// Errors in each provider's own shape, for its native paths, so its SDK raises its usual typed
// error (OpenAI's PermissionDeniedError for a 403, Anthropic's permission_error, Gemini's
// PERMISSION_DENIED) carrying the broker's message.

#include "core/error.hpp"
#include "http/message.hpp"
#include "proxy/providers.hpp"

namespace ap::proxy {

http::Response ProviderErrorResponse(Provider wire, const Error& error, unsigned version = 11);
// The same error as the last event of a stream (Anthropic's `event: error`; a `data:` event with
// an `error` member for OpenAI and Gemini), which the SDKs raise as an error.
std::string ProviderErrorEvent(Provider wire, const Error& error);

}  // namespace ap::proxy
