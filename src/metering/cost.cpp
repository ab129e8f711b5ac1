#include "metering/cost.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/money.hpp"

namespace ap::metering {
namespace {

// Products of token counts and prices per million tokens need more than 64 bits before the division.
__extension__ using Wide = __int128;

constexpr int64_t kMillion = 1'000'000;

// A count as the cost arithmetic takes it: a negative one (never a real figure) as the largest.
Wide Count(int64_t n) { return n < 0 ? kMaxTokens : n; }

int64_t ClampMicros(Wide micros) { return static_cast<int64_t>(std::clamp<Wide>(micros, 0, kMaxMicros)); }

Wide CeilDiv(Wide a, Wide b) { return a <= 0 ? 0 : (a + b - 1) / b; }

const TokenPrices& TierFor(const Price& price, int64_t input_tokens) {
  if (price.long_context_above && input_tokens > *price.long_context_above) return price.long_tokens;
  return price.tokens;
}

// Token cost in micro-USD times a million (exact), before rounding.
Wide TokenCostScaled(const TokenPrices& p, const Consumption& used) {
  Wide input = Count(used.input_tokens);
  Wide cached = std::min(Count(used.cached_input_tokens), input);
  Wide writes = std::min(Count(used.cache_write_tokens), input - cached);
  Wide long_writes = std::min(Count(used.cache_write_1h_tokens), writes);
  Wide fresh = input - cached - writes;
  // The audio is in the cache as far as the answer says (cached_audio_input_tokens, of all the
  // audio); the rest of it (all of it, where an answer reports cached input but not its
  // modalities) is split between the fresh input and the cache the dearest way.
  Wide audio = Count(used.audio_input_tokens);
  Wide said_cached = std::min({Count(used.cached_audio_input_tokens), audio, cached});
  Wide unplaced = audio - said_cached;
  // A price the table leaves out is charged at the full input price, never for free.
  int64_t cached_price = p.cached_input > 0 ? p.cached_input : p.input;
  int64_t write_price = p.cache_write > 0 ? p.cache_write : p.input;
  int64_t long_write_price = p.cache_write_1h > 0 ? p.cache_write_1h : write_price;
  int64_t audio_price = std::max(p.audio_input, p.input);
  // Where audio costs more than the rest, cached audio does too: at its own price, else in full.
  int64_t cached_audio_price = p.audio_input <= p.input   ? cached_price
                               : p.cached_audio_input > 0 ? std::max(p.cached_audio_input, cached_price)
                                                          : audio_price;
  auto input_cost = [&](Wide fresh_audio) {
    Wide cached_audio = said_cached + std::min(unplaced - fresh_audio, cached - said_cached);
    return (fresh - fresh_audio) * p.input + fresh_audio * audio_price + (cached - cached_audio) * cached_price +
           cached_audio * cached_audio_price;
  };
  // The cost is linear in how much of the unplaced audio is fresh: the dearer of its two ends, as
  // much as fits in the fresh input, or as little as the cache leaves.
  Wide most_fresh = std::min(unplaced, fresh);
  Wide least_fresh = std::min(most_fresh, std::max<Wide>(0, unplaced - (cached - said_cached)));
  return std::max(input_cost(most_fresh), input_cost(least_fresh)) + (writes - long_writes) * write_price +
         long_writes * long_write_price + Count(used.output_tokens) * p.output;
}

int64_t ImagePrice(const Price& price, const std::string& kind) {
  if (auto it = price.image_micros.find(kind); it != price.image_micros.end()) return it->second;
  size_t slash = kind.find('/');
  std::string size = kind.substr(0, slash);
  if (auto it = price.image_micros.find(size); it != price.image_micros.end()) return it->second;
  // A size or quality the table does not know ("auto": the model chooses): the dearest image of
  // the size, or else of the quality, asked for; of neither, the dearest image of all.
  std::string_view quality = slash == std::string::npos ? std::string_view() : std::string_view(kind).substr(slash);
  int64_t dearest = 0, of_size = 0, of_quality = 0;
  for (const auto& [listed, micros] : price.image_micros) {
    dearest = std::max(dearest, micros);
    if (listed.starts_with(size) && listed.size() > size.size() && listed[size.size()] == '/')
      of_size = std::max(of_size, micros);
    if (!quality.empty() && listed.ends_with(quality)) of_quality = std::max(of_quality, micros);
  }
  return of_size > 0 ? of_size : of_quality > 0 ? of_quality : dearest;
}

Wide AudioCost(const Price& price, double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return kMaxMicros;
  double micros = std::ceil(seconds * static_cast<double>(price.audio_minute_micros) / 60);
  return micros >= static_cast<double>(kMaxMicros) ? kMaxMicros : static_cast<Wide>(micros);
}

// A token percent as the arithmetic takes it: never below the listed prices.
Wide Percent(int64_t percent) { return std::clamp<int64_t>(percent, 100, 1000); }

// `uses` of `tool` in micro-USD times a million: its price per use, and the input each use is
// billed as (Price::tool_input_tokens) at the tier's input price. That input is counted up to
// kMaxMicros million tokens, which at any price but 0 cost more than a charge can be: the product
// stays within 128 bits, and the clamped cost is exact.
Wide ToolCostScaled(const Price& price, const TokenPrices& tier, const std::string& tool, int64_t uses) {
  Wide n = Count(uses), scaled = 0;
  if (auto it = price.tool_micros.find(tool); it != price.tool_micros.end()) scaled += n * it->second * kMillion;
  if (auto it = price.tool_input_tokens.find(tool); it != price.tool_input_tokens.end())
    scaled += std::min<Wide>(n * it->second, Wide(kMaxMicros) * kMillion) * tier.input;
  return scaled;
}

Wide ToolCost(const Price& price, const TokenPrices& tier, const std::vector<ToolUses>& tools) {
  Wide scaled = 0;
  for (const auto& [tool, uses] : tools) scaled += ToolCostScaled(price, tier, tool, uses);
  return CeilDiv(scaled, kMillion);
}

}  // namespace

int64_t CostMicros(const Price& price, const Consumption& used) {
  const TokenPrices& tier = TierFor(price, used.input_tokens);
  Wide tokens = CeilDiv(TokenCostScaled(tier, used) * Percent(used.token_percent), kMillion * 100);
  Wide images =
      Count(used.images) * ImagePrice(price, used.image_kind) + Count(used.partial_images) * price.partial_image_micros;
  Wide characters = CeilDiv(Count(used.characters) * price.million_characters_micros, kMillion);
  return ClampMicros(tokens + images + AudioCost(price, used.audio_seconds) + characters +
                     ToolCost(price, tier, used.tool_uses));
}

std::vector<ToolUses> ChargedToolUses(const Price& price, const std::vector<ToolUses>& offered,
                                      const std::vector<ToolUses>& reported) {
  auto per_use = [&](const std::string& tool) { return ToolCostScaled(price, price.tokens, tool, 1); };
  std::vector<ToolUses> charged;
  for (const auto& [kind, uses] : reported) {
    const std::string* dearest = nullptr;
    for (const auto& [tool, _] : offered)
      if (tool.starts_with(kind) && (!dearest || per_use(tool) > per_use(*dearest))) dearest = &tool;
    charged.emplace_back(dearest ? *dearest : kind, uses);
  }
  return charged;
}

std::optional<std::string> UnpricedTool(const Price& price, const std::vector<ToolUses>& tools) {
  for (const auto& [tool, uses] : tools)
    if (uses > 0 && !price.tool_micros.contains(tool)) return tool;
  return std::nullopt;
}

int64_t AffordableOutputTokens(const Price& price, const Consumption& input, int64_t micros) {
  Consumption fixed = input;
  fixed.output_tokens = 0;
  Wide left = Wide(micros) - CostMicros(price, fixed);
  if (left <= 0) return 0;
  const TokenPrices& tier = TierFor(price, input.input_tokens);
  if (tier.output == 0) return kMaxTokens;
  return static_cast<int64_t>(
      std::min<Wide>(left * kMillion * 100 / (tier.output * Percent(input.token_percent)), kMaxTokens));
}

std::string FormatUsd(int64_t micros) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "$%lld.%06lld", static_cast<long long>(micros / kMillion),
                static_cast<long long>(std::llabs(micros % kMillion)));
  return buf;
}

}  // namespace ap::metering
