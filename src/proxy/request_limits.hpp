#pragma once
// What a request lets the provider spend, read from exactly the body that goes upstream, as that
// provider reads it: the largest output limit it names, how many answers it asks for (each may
// write that much), images, characters of speech, and the paid server-side tools it offers. A
// limit or count that is not a whole number in its range, or that two spellings of one field give
// differently, is refused: the broker never reads a figure otherwise than the provider does.

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "proxy/providers.hpp"

namespace ap::proxy {

// The most answers a call may ask for (OpenAI's n allows 128), and images per call.
inline constexpr int64_t kMaxAnswers = 128;
inline constexpr int64_t kMaxImages = 10;
inline constexpr int64_t kMaxPartialImages = 3;  // an image's, in a stream
// Uses of server-side tools: the most a request may allow, and what the broker allows (and
// reserves) where the app sets no bound.
inline constexpr int64_t kMaxToolUses = 100;
inline constexpr int64_t kDefaultToolUses = 5;

struct RequestedUse {
  bool input_in_tokens = false;          // the body's text is billed as input tokens
  int64_t hidden_input_tokens = 0;       // input the provider adds to the body's (Anthropic's tool prompts)
  // The call has the model think where its stream shows nothing or a summary (Anthropic's extended
  // thinking on Claude 4, Gemini's thinkingConfig): see metering::Price::reasons_unseen.
  bool reasons_unseen = false;
  bool writes_text = false;              // the answer is billed as output tokens
  std::optional<int64_t> output_tokens;  // the largest output limit named, per answer
  int64_t answers = 1;                   // n, candidateCount
  int64_t images = 0;
  std::string image_kind;  // "1024x1024/standard"
  int64_t partial_images = 0;  // a streamed image call's, for all its images
  int64_t characters = 0;  // speech input
  // Paid server-side tools, named as in the price table, with the uses reserved for each.
  std::vector<std::pair<std::string, int64_t>> tools;
  bool body_changed = false;  // a bound on tool uses, or the service tier, was set in `body`
  // Which bounds were added: max_uses to these elements of `tools` (Anthropic), max_tool_calls (OpenAI).
  std::vector<size_t> bounded_tools;
  bool bounded_tool_calls = false;
  // OpenAI's service_tier set to "default" (the app left it to the project); `tier_added`: the body
  // had no such member.
  bool tier_set = false;
  bool tier_added = false;
  // A field that makes the provider read input the body does not hold (OpenAI's
  // previous_response_id, conversation, stored prompt; Gemini's cachedContent; Anthropic's MCP
  // servers): no worst case bounds such a call.
  std::optional<std::string> unbounded_input;
  // What makes the provider read more input tokens than the body has bytes, if anything: a part
  // that is not text (an image, audio, a document or file, inline or by reference), or a
  // server-side tool whose results go back to the model. The model's context window bounds such
  // a call's input, once for each turn its tools may add (`tool_turns`: one per use allowed).
  std::optional<std::string> input_beyond_bytes;
  int64_t tool_turns = 0;
  // OpenAI's predicted output: the prediction's tokens the answer does not use are billed as
  // output, beyond the output limit; the body's bytes bound them.
  bool output_echoes_body = false;
  // Anthropic's inference_geo: none (the workspace's default, which may keep inference in one
  // geography), "global", or another (one geography, billed above the listed prices).
  enum class Geo : uint8_t { kUnnamed, kGlobal, kOne } inference_geo = Geo::kUnnamed;
  // Anthropic's cache_control marks something for the prompt cache: the input may be billed as
  // cache writes (for an hour: twice the input price). Read on a budget only (the conversation's
  // parts are scanned then).
  bool writes_cache = false;
  // What the call reaches beyond its endpoint's capability and model, which the grant must allow as
  // well: the models its tools name (Anthropic's advisor runs another model), and images a tool makes
  // (OpenAI's image_generation on a chat call), and code a tool runs in the provider's sandbox
  // (its name: code_interpreter, code_execution, a shell in OpenAI's container).
  std::vector<std::string> tool_models;
  bool tool_makes_images = false;
  std::string tool_runs_code;
  bool tool_model_unnamed = false;  // image_generation without a model: OpenAI chooses one
  // A setup stored at the provider that the call runs with, whose tools (image generation, code
  // execution) and models the broker cannot see: "prompt" (OpenAI's stored prompt) or
  // "cachedContent" (Gemini's cache, which keeps tools and a system instruction). Empty: none.
  std::string stored_setup;
  // What the answer is asked to hold beyond text: images (Gemini's responseModalities IMAGE), or
  // speech (OpenAI's modalities "audio" or its audio settings, Gemini's AUDIO or speechConfig).
  bool answers_images = false;
  bool answers_audio = false;
};

// A name the app wrote (a member, a part's type, a tool's), quoted for an error message and cut
// to 64 characters: the app chooses its length.
std::string QuotedName(std::string_view name);

// Who serves a call: the provider itself, or a declared OpenAI-compatible server, whose service
// tiers (Groq's on_demand, flex, performance) the price table does not tell apart.
enum class Server { kProvider, kDeclared };

// Reads `body` for a call of `capability` to `wire`. With `bound_tools` (the grant has a budget),
// where the app offers a server-side tool with no bound on its uses and the provider takes one
// (Anthropic web search's and web fetch's max_uses, OpenAI's max_tool_calls), the bound
// kDefaultToolUses is added to `body`, so the reservation covers what the provider may do; and an
// OpenAI service tier left to the project is set to the standard one the price table holds (a
// declared server's: none may be asked for, and none is set, as its names are its own).
Result<RequestedUse> ReadRequestedUse(Provider wire, std::string_view capability, boost::json::object& body,
                                      bool bound_tools, Server server = Server::kProvider);

}  // namespace ap::proxy
