#pragma once
// `aipassport mock-upstream`: a faithful emulation of the providers' wire formats for tests, demos
// and benchmarks. Every path the broker serves answers in its provider's real shape with usage
// figures, streams (SSE, audio) piece by piece with a configurable pace, and refuses a missing or
// wrong key or a bad body with the provider's real error shape. GET /__mock/stats reports what it
// received (the headers and key of each provider's last request, and every key it was given) and
// how its streams ended (completed, or cancelled by the caller) and how many streamed pieces it
// wrote; POST /__mock/accept-keys
// `{"keys": [...]}` changes the keys it accepts while it runs. The model names "quote-key" and
// "quote-key-error" make it quote the key it was given, as a careless provider would: in a
// successful answer, or in an error (a 400, or an error event in a stream), and in the request id
// header of either, whole and in part.
// Thread-safety: the handler may run on many I/O threads at once.

#include <memory>
#include <string>
#include <vector>

#include "http/router.hpp"

namespace ap::mock {

struct MockOptions {
  int latency_ms = 0;       // added before every answer
  int stream_chunks = 4;    // pieces a streamed reply is cut into
  int stream_delay_ms = 0;  // pause between streamed pieces
  // When above 0, each piece of an event stream comes after a comment line of this many bytes
  // (which SSE parsers skip): a stream large enough to fill the socket buffers on its way.
  int stream_padding_bytes = 0;
  // When above 0, a whole answer is sent as its head and the first half of its body, then this
  // pause, then the rest (chunked): a provider slow to write a long answer. Not /__mock/ answers.
  int body_pause_ms = 0;
  // Anthropic streams end with an overloaded_error event after this many text deltas, as
  // Anthropic reports an overload mid-stream (before its closing message_delta); -1: never.
  int overload_after = -1;
  // Gemini streams report candidatesTokenCount only in their last chunk (Google's schema makes
  // every usage figure optional), rather than as running totals.
  bool gemini_output_at_end = false;
  std::string openai_key = "test-openai-key";
  std::string anthropic_key = "test-anthropic-key";
  std::string google_key = "test-google-key";
  // When set, the keys every provider accepts, in place of its own key above.
  std::vector<std::string> accept_keys;
  // The service tier OpenAI calls run at when they name none or "auto": what the key's project is
  // configured with ("default" unless its owner chose another).
  std::string project_service_tier = "default";
  // Where Anthropic calls that name no inference_geo run, on models that take it: the workspace's
  // default ("global" unless its owner chose "us").
  std::string workspace_inference_geo = "global";
  // When 0 or more, every provider call is answered as its provider says it is overloaded
  // (OpenAI 503, Anthropic 529 overloaded_error, Gemini 503 UNAVAILABLE), with a Retry-After of
  // this many seconds (none for 0); -1: never.
  int overloaded_retry_after = -1;
};

class MockUpstream {
 public:
  explicit MockUpstream(MockOptions options);
  ~MockUpstream();
  http::Handler Handler();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace ap::mock
