#pragma once
// The anthropic-beta flags an app's call may carry through the broker. A beta changes what
// Anthropic reads in a call: some pick another model for it (server-side fallbacks), add tools in
// the middle of a conversation, or run work in the background, in members the broker never reads.
// So only flags whose effects the broker reads (or that change nothing it bounds: which model runs,
// what the call may use, what it costs) are relayed; a call with any other flag is refused before
// it leaves. Thread-safety: pure functions.

#include <string_view>

#include "core/error.hpp"
#include "http/message.hpp"

namespace ap::proxy {

// Refuses (403, naming the flag) a call whose anthropic-beta fields name a flag not relayed.
Status CheckAnthropicBetas(const http::Request& req);

// Whether the app's anthropic-beta flags open a model's 1M-token window (context-1m-2025-08-07).
bool OpensWideContext(const http::Request& req);

}  // namespace ap::proxy
