#pragma once
// What a call used or may use, and what that costs at a price. Costs round up to the next
// micro-USD, so a grant is never charged less than the provider bills. Every cost is between 0 and
// kMaxMicros (core/money.hpp), whatever the figures: arithmetic saturates rather than wraps.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "metering/prices.hpp"

namespace ap::metering {

// Uses of one paid server-side tool ("web_search"), named as in the price table.
using ToolUses = std::pair<std::string, int64_t>;

struct Consumption {
  int64_t input_tokens = 0;         // all of them, cached and cache writes included
  int64_t cached_input_tokens = 0;  // read from a cache
  int64_t cache_write_tokens = 0;   // written to a cache (Anthropic)
  int64_t cache_write_1h_tokens = 0;  // of them, to 1-hour entries
  int64_t audio_input_tokens = 0;     // of the input, audio (Gemini): cached or not
  int64_t cached_audio_input_tokens = 0;  // of the cached input, audio (Gemini)
  int64_t output_tokens = 0;
  int64_t images = 0;
  std::string image_kind;  // "1024x1024/hd"
  int64_t partial_images = 0;  // sent ahead of the images while they are made
  double audio_seconds = 0;
  int64_t characters = 0;
  std::vector<ToolUses> tool_uses;
  // The token prices, in percent: above 100 where the call's inference was kept in one geography
  // (Price::geo_inference_percent).
  int64_t token_percent = 100;
};

int64_t CostMicros(const Price& price, const Consumption& used);

// The tool uses to charge for what the provider `reported`, by kind ("web_search"): each kind at
// the dearest tool the call `offered` whose name begins with it (OpenAI reports web_search_preview
// as a web search too), or under the kind's own name when the call offered none such.
std::vector<ToolUses> ChargedToolUses(const Price& price, const std::vector<ToolUses>& offered,
                                      const std::vector<ToolUses>& reported);

// The first tool of `tools` that `price` has no per-use price for.
std::optional<std::string> UnpricedTool(const Price& price, const std::vector<ToolUses>& tools);

// The most output tokens `micros` pays for after everything else `input` uses (at least 0).
int64_t AffordableOutputTokens(const Price& price, const Consumption& input, int64_t micros);

// "$0.000150" style, for people.
std::string FormatUsd(int64_t micros);

}  // namespace ap::metering
