#include "api/key_leak_guard.hpp"

#include <gtest/gtest.h>

namespace ap::api {
namespace {

TEST(KeyLeakGuard, RevokesAtTheLimitAndThenForgetsTheGrant) {
  KeyLeakGuard guard;
  EXPECT_FALSE(guard.Quoted("g1", 1));
  EXPECT_FALSE(guard.Quoted("g2", 2));
  EXPECT_FALSE(guard.Quoted("g1", 1));
  EXPECT_TRUE(guard.Quoted("g1", 1)) << "the third quoted answer of one grant";
  EXPECT_TRUE(guard.Quoted("g2", 5)) << "several in one answer count as several";
  // Revoked grants leave the table, which therefore holds only grants still below the limit.
  EXPECT_FALSE(guard.Quoted("g1", 1));
}

TEST(KeyLeakGuard, ATableFullOfGrantsCountingRevokesANewQuoterAtOnce) {
  KeyLeakGuard guard;
  for (size_t i = 0; i < KeyLeakGuard::kMaxGrants; ++i) ASSERT_FALSE(guard.Quoted("g" + std::to_string(i), 1));
  EXPECT_TRUE(guard.Quoted("new", 1)) << "cannot count it: err on the side of the key";
  EXPECT_FALSE(guard.Quoted("g7", 1)) << "a grant already counted goes on being counted";
  EXPECT_TRUE(guard.Quoted("g7", 1));
  EXPECT_FALSE(guard.Quoted("new", 1)) << "a revoked grant made room";
}

}  // namespace
}  // namespace ap::api
