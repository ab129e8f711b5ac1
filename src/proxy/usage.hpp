#pragma once
// What a call used, read from the provider's own figures (input_tokens counts every input token,
// as OpenAI and Gemini do; Anthropic's cache reads and writes, which it reports apart, are added): OpenAI's `usage`
// (chat, responses, embeddings, images, audio), Anthropic's `usage` (also inside `message_start`), Gemini's
// `usageMetadata`. Streams report usage in several events; each figure keeps its latest value,
// which is right for all three (OpenAI reports once, Anthropic and Gemini report running totals).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ap::proxy {

struct Usage {
  int64_t input_tokens = 0;
  int64_t cached_input_tokens = 0;  // read from a cache; part of input_tokens
  int64_t cache_write_tokens = 0;   // written to a cache (Anthropic); part of input_tokens
  int64_t cache_write_1h_tokens = 0;  // of them, to 1-hour entries (usage.cache_creation)
  int64_t audio_input_tokens = 0;     // of the input, audio (Gemini's promptTokensDetails AUDIO)
  int64_t cached_audio_input_tokens = 0;  // of the cached input, audio (Gemini's cacheTokensDetails AUDIO)
  int64_t output_tokens = 0;
  double audio_seconds = 0;  // OpenAI transcriptions billed by duration
  // Uses of paid server-side tools, by kind: "web_search" (Anthropic's server_tool_use, OpenAI's
  // web_search_call items), "file_search", "google_search" (Gemini's search queries).
  std::vector<std::pair<std::string, int64_t>> tool_uses;
  std::vector<int64_t> searches_by_candidate;  // Gemini's, by candidate index
  // A figure was negative, not a whole number or beyond kMaxTokens: the call counts as its worst case.
  bool implausible = false;
  // A stream cut before the provider reported its input: the input reserved is charged.
  bool input_unknown = false;
  // A stream cut (after `streamed_ms` from its call being sent) before the provider reported all
  // its output: output_tokens counts its events only.
  bool output_unknown = false;
  int64_t streamed_ms = 0;
  // Of a stream the app left while a write to it waited: how long the write waited, and the output
  // counted before it. The relay read nothing from the provider meanwhile, which wrote on into
  // buffers on the way, not all of which reached the broker to be counted.
  int64_t app_held_ms = 0;
  int64_t output_before_hold = 0;
  // Of such a stream on a grant with a budget: the bytes of output its events held (OutputBytesOfEvent),
  // more than the tokens they carried, which are charged up to it within what was reserved.
  int64_t output_bound = 0;
  // A stream cut before its end (by the app, the broker or the provider).
  bool cut = false;
  // The provider's closing usage was read: a usage object of a kind only an answer's end carries
  // (Anthropic's message_delta, OpenAI's last chunk or finished response; not message_start's),
  // or Gemini's usageMetadata beside a candidate's finishReason (not its running totals alone).
  bool closed = false;
  // Gemini counted the candidates' output (a candidatesTokenCount above 0): its running totals say
  // how much a cut stream wrote. Its thoughts alone do not (they come before the answer's text).
  bool output_counted = false;
  // Where Anthropic ran the call, as usage.inference_geo says: in one geography (anything but
  // "global"), billed above the listed prices (metering::Price::geo_inference_percent), or not;
  // none when no answer said. Once one said "one geography", it stays so.
  std::optional<bool> one_geo;
  // The latest figure of each count the usage objects gave, by kUsageFigureNames: the token totals
  // above are their sums, so that an object that gives a figure as null or leaves it out keeps the
  // one before (Anthropic's message_delta gives its input figures as nullable running totals, and
  // one without its cache writes would otherwise shrink the input they are part of).
  std::array<int64_t, 13> figures{};

  bool Empty() const {
    return input_tokens == 0 && output_tokens == 0 && audio_seconds == 0 && tool_uses.empty() && !input_unknown;
  }
  bool operator==(const Usage&) const = default;
  int64_t ToolUses(std::string_view kind) const;
  void SetToolUses(std::string_view kind, int64_t uses);
};

// The figures Usage::figures keeps, in its order: counts in a usage object, then two counts one
// object further in ("prompt_tokens_details.cached_tokens", "input_tokens_details.cached_tokens").
inline constexpr std::array<std::string_view, 13> kUsageFigureNames = {"prompt_tokens",
                                                                       "input_tokens",
                                                                       "promptTokenCount",
                                                                       "cache_read_input_tokens",
                                                                       "cache_creation_input_tokens",
                                                                       "completion_tokens",
                                                                       "output_tokens",
                                                                       "candidatesTokenCount",
                                                                       "thoughtsTokenCount",
                                                                       "cachedContentTokenCount",
                                                                       "toolUsePromptTokenCount",
                                                                       "prompt_tokens_details.cached_tokens",
                                                                       "input_tokens_details.cached_tokens"};

// Whether JSON text may hold usage figures or tool uses (a cheap test before parsing it). A member
// name written with escapes ("us\u0061ge", which no provider writes) is not seen: such an answer
// counts as saying nothing of its usage, and is charged its worst case, never less.
bool MayCarryUsage(std::string_view json_text);
// Folds the usage figures found in one answer or stream event into `usage`. The whole text is
// validated as boost::json::parse validates it, and only the members usage comes from are read,
// nothing built; text that is not JSON, or has no usage, changes nothing. A member named twice
// counts as the provider's parser reads it: the last one.
void MergeUsageFromJson(std::string_view json_text, Usage& usage);
// MergeUsageFromJson for one stream event's data; true when it is OpenAI's closing chunk that
// carries only usage (`choices` empty, `usage` an object), the one stream_options.include_usage adds.
bool MergeUsageFromChunk(std::string_view json_text, Usage& usage);
// The bytes of output one stream event's data holds: its strings under the members providers write
// output in (content, text, arguments, partial_json, thinking, reasoning, refusal, a tool's name, a
// string delta, and all of Gemini's function call args), unescaped. A token is at least a byte of what it
// writes, so it bounds the output tokens the event carried from above, where counting one token an
// event bounds them from below. 0 for text that is not JSON.
int64_t OutputBytesOfEvent(std::string_view json_text);

// One stream event's data read in one walk for both: its usage merged into `usage` (as
// MergeUsageFromChunk), and, when `count_output`, the bytes of output it holds (as
// OutputBytesOfEvent; 0 otherwise). A Gemini chunk carries both in every event.
struct EventReading {
  bool usage_only = false;  // MergeUsageFromChunk's answer
  int64_t output_bytes = 0;
};
EventReading ReadStreamEvent(std::string_view json_text, Usage& usage, bool count_output);

}  // namespace ap::proxy
