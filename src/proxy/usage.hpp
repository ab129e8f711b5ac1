#pragma once
// What a call used, read from the provider's own figures (input_tokens counts every input token,
// as OpenAI and Gemini do; Anthropic's cache reads and writes, which it reports apart, are added): OpenAI's `usage`
// (chat, responses, embeddings, images, audio), Anthropic's `usage` (also inside `message_start`), Gemini's
// `usageMetadata`. Streams report usage in several events; each figure keeps its latest value,
// which is right for all three (OpenAI reports once, Anthropic and Gemini report running totals).

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <string_view>

namespace ap::proxy {

struct Usage {
  int64_t input_tokens = 0;
  int64_t cached_input_tokens = 0;  // read from a cache; part of input_tokens
  int64_t cache_write_tokens = 0;   // written to a cache (Anthropic); part of input_tokens
  int64_t output_tokens = 0;
  double audio_seconds = 0;  // OpenAI transcriptions billed by duration

  bool Empty() const { return input_tokens == 0 && output_tokens == 0 && audio_seconds == 0; }
};

// Folds the usage figures found in one answer or stream event into `usage`.
void MergeUsage(const boost::json::value& answer, Usage& usage);
// The same for JSON text; text that is not JSON, or has no usage, changes nothing.
void MergeUsageFromJson(std::string_view json_text, Usage& usage);

}  // namespace ap::proxy
