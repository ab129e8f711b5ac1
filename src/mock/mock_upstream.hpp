#pragma once
// `aipassport mock-upstream`: a faithful emulation of the providers' wire formats for tests, demos
// and benchmarks. OpenAI chat completions, Anthropic messages and Gemini generateContent answer
// in each provider's real shape with usage figures, and refuse a missing or wrong key or a bad
// body with the provider's real error shape. GET /__mock/stats reports what it received.
// Thread-safety: the handler may run on many I/O threads at once.

#include <memory>
#include <string>

#include "http/router.hpp"

namespace ap::mock {

struct MockOptions {
  int latency_ms = 0;  // added before every answer
  std::string openai_key = "test-openai-key";
  std::string anthropic_key = "test-anthropic-key";
  std::string google_key = "test-google-key";
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
