#include "metering/cost.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ap::metering {
namespace {

constexpr int64_t kMillion = 1'000'000;

int64_t CeilDiv(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

const TokenPrices& TierFor(const Price& price, int64_t input_tokens) {
  if (price.long_context_above && input_tokens > *price.long_context_above) return price.long_tokens;
  return price.tokens;
}

// Token cost in micro-USD times a million (exact), before rounding.
int64_t TokenCostScaled(const TokenPrices& p, const Consumption& used) {
  int64_t cached = std::min(used.cached_input_tokens, used.input_tokens);
  int64_t writes = std::min(used.cache_write_tokens, used.input_tokens - cached);
  int64_t fresh = used.input_tokens - cached - writes;
  // A price the table leaves out is charged at the full input price, never for free.
  int64_t cached_price = p.cached_input > 0 ? p.cached_input : p.input;
  int64_t write_price = p.cache_write > 0 ? p.cache_write : p.input;
  return fresh * p.input + cached * cached_price + writes * write_price + used.output_tokens * p.output;
}

int64_t ImagePrice(const Price& price, const std::string& kind) {
  if (auto it = price.image_micros.find(kind); it != price.image_micros.end()) return it->second;
  std::string size = kind.substr(0, kind.find('/'));
  if (auto it = price.image_micros.find(size); it != price.image_micros.end()) return it->second;
  int64_t dearest = 0;  // a size or quality the table does not know: the dearest image
  for (const auto& [_, micros] : price.image_micros) dearest = std::max(dearest, micros);
  return dearest;
}

}  // namespace

int64_t CostMicros(const Price& price, const Consumption& used) {
  int64_t tokens = CeilDiv(TokenCostScaled(TierFor(price, used.input_tokens), used), kMillion);
  int64_t images = used.images > 0 ? used.images * ImagePrice(price, used.image_kind) : 0;
  auto audio =
      static_cast<int64_t>(std::ceil(used.audio_seconds * static_cast<double>(price.audio_minute_micros) / 60));
  int64_t characters = CeilDiv(used.characters * price.million_characters_micros, kMillion);
  return tokens + images + audio + characters;
}

int64_t AffordableOutputTokens(const Price& price, const Consumption& input, int64_t micros) {
  const TokenPrices& tier = TierFor(price, input.input_tokens);
  int64_t left_scaled = micros * kMillion - TokenCostScaled(tier, input);
  if (left_scaled <= 0) return 0;
  if (tier.output == 0) return INT64_MAX / 2;
  return left_scaled / tier.output;
}

std::string FormatUsd(int64_t micros) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "$%lld.%06lld", static_cast<long long>(micros / kMillion),
                static_cast<long long>(std::llabs(micros % kMillion)));
  return buf;
}

}  // namespace ap::metering
