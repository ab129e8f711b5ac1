#pragma once
// What a call used or may use, and what that costs at a price. Costs round up to the next
// micro-USD, so a grant is never charged less than the provider bills.

#include <cstdint>
#include <string>

#include "metering/prices.hpp"

namespace ap::metering {

struct Consumption {
  int64_t input_tokens = 0;         // all of them, cached and cache writes included
  int64_t cached_input_tokens = 0;  // read from a cache
  int64_t cache_write_tokens = 0;   // written to a cache (Anthropic)
  int64_t output_tokens = 0;
  int64_t images = 0;
  std::string image_kind;  // "1024x1024/hd"
  double audio_seconds = 0;
  int64_t characters = 0;
};

int64_t CostMicros(const Price& price, const Consumption& used);

// The most output tokens `micros` pays for after `input` (at least 0).
int64_t AffordableOutputTokens(const Price& price, const Consumption& input, int64_t micros);

// "$0.000150" style, for people.
std::string FormatUsd(int64_t micros);

}  // namespace ap::metering
