#include "api/grant_changes.hpp"

#include <gtest/gtest.h>

#include "domain/grant.hpp"
#include "domain/scope.hpp"

namespace ap::api {
namespace {

constexpr UnixSeconds kNow = 1796000000;

store::GrantRecord ApprovedGrant(int64_t budget_cents) {
  domain::Scope scope;
  scope.provider = "openai";
  scope.capabilities = {"chat"};
  scope.max_budget_cents = budget_cents;
  auto r = domain::MakeGrantRequest("app", "https://app.example", "", scope, "hash", kNow);
  r.grant.status = store::GrantStatus::kApproved;
  r.grant.approved_at = kNow;
  r.grant.expires_at = kNow + 3600;
  return r.grant;
}

// Two owners change one grant at once (on two brokers, or two requests on one): A lowers its
// budget from $100 to $1, B sets a rate limit. Each change was asked for with the grant as it was
// before either (B's carries the $100 it read), and B's is applied last. A's lower budget stands.
TEST(SetLimits, ALimitTheChangeLeavesOutKeepsWhatTheGrantHoldsWhenItIsApplied) {
  store::GrantRecord grant = ApprovedGrant(10000);
  domain::Scope read = domain::ParseScopeText(grant.scope_json).value();
  domain::Scope asked_by_a = read, asked_by_b = read;
  asked_by_a.max_budget_cents = 100;
  asked_by_b.rate_limit = 60;
  ASSERT_TRUE(SetLimits(asked_by_a, static_cast<LimitSet>(Limit::kBudget))(grant, kNow));
  ASSERT_TRUE(SetLimits(asked_by_b, static_cast<LimitSet>(Limit::kRate))(grant, kNow));
  domain::Scope held = domain::ParseScopeText(grant.scope_json).value();
  EXPECT_EQ(held.max_budget_cents, 100);
  EXPECT_EQ(held.rate_limit, 60);

  // A change of every limit (the console's form, which shows them all) sets them all, a limit it
  // leaves empty removed.
  domain::Scope form = read;
  form.max_requests = 5;
  ASSERT_TRUE(SetLimits(form)(grant, kNow));
  held = domain::ParseScopeText(grant.scope_json).value();
  EXPECT_EQ(held.max_budget_cents, 10000);
  EXPECT_EQ(held.max_requests, 5);
  EXPECT_EQ(held.rate_limit, std::nullopt);
}

TEST(SetLimits, AGrantThatIsNotApprovedKeepsItsLimits) {
  store::GrantRecord grant = ApprovedGrant(10000);
  grant.status = store::GrantStatus::kRevoked;
  domain::Scope asked = domain::ParseScopeText(grant.scope_json).value();
  asked.max_budget_cents = 1000000;
  EXPECT_FALSE(SetLimits(asked)(grant, kNow));
  EXPECT_EQ(domain::ParseScopeText(grant.scope_json).value().max_budget_cents, 10000);
}

}  // namespace
}  // namespace ap::api
