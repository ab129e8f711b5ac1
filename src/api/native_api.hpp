#pragma once
// The providers' own APIs, served under /openai/v1, /anthropic/v1, /gemini/v1beta (and /v1), and
// /<name>/v1 for each OpenAI-compatible upstream the owner declared, so the official SDKs work with
// the broker as their base URL and a delegated token as their API key. Every path goes through the
// same guard as /proxy/chat (token, grant, capability, model, key, request cap); answers stream
// through as the provider sends them, and usage is read on the way.

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::api {

void AddNativeRoutes(http::Router& router, BrokerContext& ctx);

}  // namespace ap::api
