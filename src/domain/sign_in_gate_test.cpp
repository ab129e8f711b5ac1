#include "domain/sign_in_gate.hpp"

#include <gtest/gtest.h>

namespace ap::domain {
namespace {

using Verdict = SignInGate::Verdict;

TEST(SignInGate, OneAttemptAtATimePerAddressAndBoundsInAll) {
  SignInGate gate(2, 1);
  {
    auto first = gate.Enter("203.0.113.7");
    ASSERT_TRUE(first.Passed());
    EXPECT_EQ(gate.Enter("203.0.113.7").verdict, Verdict::kAddressBusy);
    EXPECT_EQ(gate.Enter("::ffff:203.0.113.7").verdict, Verdict::kAddressBusy) << "keyed as throttles key";
    auto other = gate.Enter("2001:db8::1");
    ASSERT_TRUE(other.Passed());
    EXPECT_EQ(gate.Enter("2001:db8::2").verdict, Verdict::kAddressBusy) << "the same /64";
    EXPECT_EQ(gate.Enter("198.51.100.1").verdict, Verdict::kFull);
    EXPECT_EQ(gate.InFlight(), 2u);
    // One password check at a time here: the second address waits for the first's.
    EXPECT_EQ(gate.TakeCheck(first, true), Verdict::kPassed);
    EXPECT_EQ(gate.TakeCheck(first, true), Verdict::kPassed) << "taken once";
    EXPECT_EQ(gate.TakeCheck(other, true), Verdict::kFull);
    EXPECT_EQ(gate.TakeCheck(other, false), Verdict::kPassed) << "an address that never failed is not bounded";
    EXPECT_EQ(gate.Checking(), 1u);
    gate.EndCheck(first);
    EXPECT_EQ(gate.Checking(), 0u) << "given back when the password is checked";
    EXPECT_EQ(gate.TakeCheck(other, true), Verdict::kPassed);
    SignInGate::Pass refused = gate.Enter("198.51.100.1");
    EXPECT_EQ(gate.TakeCheck(refused, true), Verdict::kFull) << "a pass that did not pass takes nothing";
  }
  EXPECT_EQ(gate.InFlight(), 0u) << "passes are released when they end";
  EXPECT_EQ(gate.Checking(), 0u);
  auto again = gate.Enter("203.0.113.7");
  ASSERT_TRUE(again.Passed());
  EXPECT_EQ(gate.TakeCheck(again, true), Verdict::kPassed);
  {
    SignInGate::Pass moved = std::move(again);
    EXPECT_EQ(gate.InFlight(), 1u);
  }
  EXPECT_EQ(gate.InFlight(), 0u) << "a moved pass is released once";
  EXPECT_EQ(gate.Checking(), 0u);
}

}  // namespace
}  // namespace ap::domain
