#pragma once
// The anthropic-beta flags an app's call may carry through the broker. A beta changes what
// Anthropic reads in a call: some pick another model for it (server-side fallbacks), add tools in
// the middle of a conversation, or run work in the background, in members the broker never reads.
// So only flags whose effects the broker reads (or that change nothing it bounds: which model runs,
// what the call may use, what it costs) are relayed; a call with any other flag is refused before
// it leaves. So is an API version (anthropic-version) the broker has not read: a version may change
// what a call's members mean. Thread-safety: pure functions.

#include <string_view>

#include "core/error.hpp"
#include "http/message.hpp"

namespace ap::proxy {

// Refuses (403, naming the flag) a call whose anthropic-beta fields name a flag not relayed.
Status CheckAnthropicBetas(const http::Request& req);

// Refuses (400, naming it) a call whose anthropic-version (the first, which alone is relayed) is not
// one whose calls and answers the broker reads: 2023-06-01, and 2026-10-21 (what the SDKs' majors
// from 2026-10-21 on send: it refuses some members, and changes neither max_tokens nor the usage).
// A call without one is sent with 2023-06-01.
Status CheckAnthropicVersion(const http::Request& req);

// Whether the app's anthropic-beta flags open a model's 1M-token window (context-1m-2025-08-07).
bool OpensWideContext(const http::Request& req);

}  // namespace ap::proxy
