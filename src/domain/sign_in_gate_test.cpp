#include "domain/sign_in_gate.hpp"

#include <gtest/gtest.h>

namespace ap::domain {
namespace {

TEST(SignInGate, OneAttemptAtATimePerAddressAndABoundInAll) {
  SignInGate gate(2);
  {
    auto first = gate.Enter("203.0.113.7");
    ASSERT_TRUE(first.Passed());
    EXPECT_EQ(gate.Enter("203.0.113.7").verdict, SignInGate::Verdict::kAddressBusy);
    EXPECT_EQ(gate.Enter("::ffff:203.0.113.7").verdict, SignInGate::Verdict::kAddressBusy) << "keyed as throttles key";
    auto other = gate.Enter("2001:db8::1");
    ASSERT_TRUE(other.Passed());
    EXPECT_EQ(gate.Enter("2001:db8::2").verdict, SignInGate::Verdict::kAddressBusy) << "the same /64";
    EXPECT_EQ(gate.Enter("198.51.100.1").verdict, SignInGate::Verdict::kFull);
    EXPECT_EQ(gate.InFlight(), 2u);
  }
  EXPECT_EQ(gate.InFlight(), 0u) << "passes are released when they end";
  auto again = gate.Enter("203.0.113.7");
  EXPECT_TRUE(again.Passed());
  SignInGate::Pass moved = std::move(again);
  EXPECT_EQ(gate.InFlight(), 1u) << "a moved pass is released once";
}

}  // namespace
}  // namespace ap::domain
