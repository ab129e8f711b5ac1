#include "core/money.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace ap {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(Money, WhatIsLeftNeverWraps) {
  EXPECT_EQ(LeftOf(1000, {300, 200, 100}), 400);
  EXPECT_EQ(LeftOf(1000, {1500}), -500) << "overdrawn";
  // Figures a store could hold, summed, that wrap in 64 bits: nothing is left, never a fortune.
  EXPECT_EQ(LeftOf(10, {kMax, kMax}), kMin);
  EXPECT_EQ(LeftOf(-10, {kMax}), kMin);
  EXPECT_EQ(LeftOf(kMax, {-kMax}), kMax);
  EXPECT_EQ(AddMicros(kMaxMicros, 1), kMaxMicros);
  EXPECT_EQ(AddMicros(-1, 0), kMaxMicros) << "a negative operand is the worst case";
  EXPECT_EQ(MulMicros(kMaxMicros, 2), kMaxMicros);
}

TEST(Money, APercentOfTheLargestBudgetNeverWraps) {
  EXPECT_EQ(PercentOf(1000, 80), 800);
  EXPECT_EQ(PercentOf(199, 50), 99) << "rounded down";
  EXPECT_EQ(PercentOf(kMaxMicros, 50), kMaxMicros / 2);
  EXPECT_EQ(PercentOf(kMaxMicros, 1000), kMaxMicros * 10);
  EXPECT_EQ(PercentOf(kMax, 1000), kMax);
}

}  // namespace
}  // namespace ap
