#pragma once
// What the emulated providers share: how an answer is shaped (whole, or a stream of pieces sent
// with the configured pacing), the key check's inputs, and the mock's rough tokenizer.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "http/message.hpp"
#include "mock/mock_upstream.hpp"

namespace ap::mock {

// An answer: whole, or (when `pieces` is set) a head followed by pieces sent one by one.
struct MockAnswer {
  http::Response whole;
  std::vector<std::string> pieces;
  std::string content_type;  // of a streamed answer
  std::string request_id_header;
  std::string request_id;
  // The provider's fields about the account and the call (OpenAI's openai-* and x-ratelimit-*,
  // Anthropic's anthropic-ratelimit-*), on whole and streamed answers alike: what a relay that
  // passed every field on would show the app.
  std::vector<std::pair<std::string_view, std::string_view>> account_fields;
  MockAnswer() = default;
  MockAnswer(http::Response r) : whole(std::move(r)) {}  // NOLINT: an answer can be a plain response

  // Adds the provider's `fields` (constants) to the answer, whole or streamed.
  template <size_t N>
  void AddAccountFields(const std::pair<std::string_view, std::string_view> (&fields)[N]) {
    for (const auto& [name, value] : fields) {
      whole.set(name, value);
      account_fields.emplace_back(name, value);
    }
  }
};

http::Response JsonAnswer(unsigned status, const boost::json::value& body);
std::string Header(const http::Request& req, std::string_view name);
std::string QueryParam(std::string_view target, std::string_view name);
int64_t IntOr(const boost::json::object& o, std::string_view key, int64_t fallback);
// Roughly what the providers' tokenizers give for English text: four characters a token.
int64_t EstimateTokens(std::string_view text);
int64_t UnixNow();

// The text of every message, for token counts, and of the last one, for the reply.
struct Prompt {
  std::string all;
  std::string last;
  int64_t media_tokens = 0;  // what its parts that are not text cost (kMediaPartTokens each)
  int64_t audio_tokens = 0;  // of them, sounds'
  // Each part that is not text, in order: a digest of its JSON, and whether it is a sound.
  std::vector<std::pair<size_t, bool>> media;
};

// Gemini's implicit caching as the emulation does it: a part that is not text, sent again (the
// same JSON) with the same key to the same model, is read from the cache. The last kParts parts
// are held. Thread-safe.
class MediaCache {
 public:
  static constexpr size_t kParts = 1024;
  // Whether each of a call's `parts` (of `key` to `model`) was sent by an earlier call; they are
  // all held from now on.
  std::vector<bool> SeenBefore(std::string_view key, std::string_view model, const std::vector<size_t>& parts);

 private:
  std::mutex mutex_;
  std::unordered_set<size_t> held_;
  std::deque<size_t> order_;  // oldest first
};
// What the emulation bills a part that is not text (an image, a sound, a document or file, inline
// or by reference): about a detailed image or a page of a document, far more tokens than a URL
// naming it has bytes, as the providers bill them.
inline constexpr int64_t kMediaPartTokens = 1500;
void CollectText(const boost::json::value& content, Prompt& prompt);
std::string ReplyTo(const Prompt& prompt, int64_t max_tokens, bool& truncated);
// `text` cut into `n` pieces (at least one), for streamed replies.
std::vector<std::string> Split(const std::string& text, int n);
// One server-sent event.
std::string SseEvent(std::string_view event, const boost::json::value& data, std::string_view separator = "\n\n");
// A made-up embedding of `dimensions` values derived from the text.
std::vector<float> FakeEmbedding(std::string_view text, int dimensions);

// The key the request carried, where `provider` ("openai", "anthropic", "google") takes it.
std::string GivenKey(const http::Request& req, std::string_view provider);
// Whether `key` is accepted: one of the accept_keys when they are set, else the provider's own.
bool AcceptsKey(const MockOptions& options, std::string_view own_key, std::string_view key);

// What a quoting model name asks for: the key in a successful answer, or in an error.
enum class Quote { kNone, kAnswer, kError };
inline constexpr std::string_view kQuoteKeyModel = "quote-key";
inline constexpr std::string_view kQuoteKeyErrorModel = "quote-key-error";
Quote QuoteFor(std::string_view model);
// The key whole, then its first 10, last 10 and 9 middle characters, then masked as OpenAI
// masks it (first 3 and last 4 characters).
std::string KeyQuote(std::string_view key);

MockAnswer OpenAIAnswer(const http::Request& req, std::string_view path, const MockOptions& options);
MockAnswer AnthropicAnswer(const http::Request& req, std::string_view path, const MockOptions& options);
// `path` after "/v1beta" or "/v1".
MockAnswer GeminiAnswer(const http::Request& req, std::string_view path, const MockOptions& options, MediaCache& cache);

}  // namespace ap::mock
