#pragma once
// Money and quantities as the meter counts them: integer micro-USD and whole tokens, never
// negative, and bounded so that no sum or product of them can wrap. Figures an app or a provider
// supplies are checked against these bounds on the way in; arithmetic on them saturates at the
// bound, which is more than any budget, so a saturated amount is refused, never applied.

#include <algorithm>
#include <cstdint>
#include <initializer_list>

namespace ap {

// $1,000,000,000,000 (10^18 micro-USD): as much as a grant's budget can be (maxBudgetCents is
// bounded by it), and a tenth of int64's range.
inline constexpr int64_t kMaxMicros = 1'000'000'000'000'000;
// No call reads or writes more tokens than this; a provider figure beyond it is not believed.
inline constexpr int64_t kMaxTokens = 1'000'000'000;

// a + b, at most kMaxMicros; a negative operand counts as the bound (the worst case), never as a refund.
constexpr int64_t AddMicros(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return kMaxMicros;
  return std::min(kMaxMicros, std::min(a, kMaxMicros) + std::min(b, kMaxMicros));
}

// a * b, at most kMaxMicros; a negative operand counts as the bound.
constexpr int64_t MulMicros(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return kMaxMicros;
  if (a == 0 || b == 0) return 0;
  if (a > kMaxMicros / b) return kMaxMicros;
  return std::min(kMaxMicros, a * b);
}

// What is left of `limit` once each of `used` is taken from it, reckoned in 128 bits so that no
// stored figure, however large, wraps it: negative when overdrawn, and clamped to int64's range.
constexpr int64_t LeftOf(int64_t limit, std::initializer_list<int64_t> used) {
  __extension__ using Wide = __int128;
  Wide left = limit;
  for (int64_t u : used) left -= u;
  if (left < INT64_MIN) return INT64_MIN;
  return left > INT64_MAX ? INT64_MAX : static_cast<int64_t>(left);
}

// `percent` percent of `micros` (both not negative), rounded down, reckoned in 128 bits and
// clamped to int64's range: the largest budget times a percent above 100 exceeds int64.
constexpr int64_t PercentOf(int64_t micros, int64_t percent) {
  __extension__ using Wide = __int128;
  Wide part = static_cast<Wide>(micros) * percent / 100;
  return part > INT64_MAX ? INT64_MAX : static_cast<int64_t>(part);
}

}  // namespace ap
