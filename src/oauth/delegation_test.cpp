#include "oauth/delegation.hpp"

#include <gtest/gtest.h>

namespace ap::oauth {
namespace {

const std::vector<std::string> kProviders = {"openai", "anthropic", "google"};
constexpr UnixSeconds kNow = 1'000'000;

// A parent grant: gpt-4o* for chat and embeddings, $10 with $4 of it spent, 100 requests with 30
// used, 60 a minute, two levels of delegation, ending in an hour.
domain::Grant Parent() {
  auto details = ParseAuthorizationDetails(
      R"([{"type":"ai_access","provider":"openai","models":["gpt-4o*"],"capabilities":["chat","embeddings"],
           "max_budget_cents":1000,"max_requests":100,"rate_limit":60,"may_delegate":true,
           "max_delegation_depth":2}])",
      kProviders);
  domain::Grant g{{}, details.value().scope};
  domain::SetScope(g.record, g.scope);
  g.record.id = "parent";
  g.record.ancestors = {"root"};
  g.record.status = store::GrantStatus::kApproved;
  g.record.owner_id = "owner-1";
  g.record.key_label = "work";
  g.record.approved_at = kNow - 100;
  g.record.expires_at = kNow + 3600;
  g.record.spent_micros = 400 * 10'000;
  g.record.usage_count = 30;
  return g;
}

AccessRequest Child(std::string_view fields) {
  std::string json = R"([{"type":"ai_access","provider":"openai","capabilities":["chat"],"models":["gpt-4o-mini"],
      "max_budget_cents":100,"max_requests":10,"rate_limit":10)" + std::string(fields) + "}]";
  auto parsed = ParseAuthorizationDetails(json, kProviders);
  EXPECT_TRUE(parsed) << parsed.error().message;
  return parsed.value();
}

std::string Beyond(std::string_view fields, const domain::Grant& parent = Parent()) {
  return BeyondParent(Child(fields), parent, kNow).value_or("fits");
}

TEST(DelegationTest, AChildNarrowerInEveryDimensionFits) {
  EXPECT_EQ(Beyond(""), "fits");
  EXPECT_EQ(Beyond(R"(,"max_budget_cents":600,"max_requests":70,"lifetime_seconds":3600)"), "fits");  // all that is left
  EXPECT_EQ(Beyond(R"(,"may_delegate":true)"), "fits");
}

TEST(DelegationTest, EveryWideningIsRefusedSayingWhat) {
  EXPECT_NE(Beyond(R"(,"models":["gpt-4.1"])").find("model gpt-4.1"), std::string::npos);
  EXPECT_NE(Beyond(R"(,"models":["gpt-*"])").find("model gpt-*"), std::string::npos);
  EXPECT_NE(Beyond(R"(,"capabilities":["images"])").find("capability images"), std::string::npos);
  EXPECT_NE(Beyond(R"(,"provider":"anthropic","models":[])").find("is for openai"), std::string::npos);
  EXPECT_NE(Beyond(R"(,"max_budget_cents":601)").find("max_budget_cents 601 is more than"), std::string::npos);
  EXPECT_NE(Beyond(R"(,"max_requests":71)").find("max_requests 71"), std::string::npos);
  EXPECT_NE(Beyond(R"(,"rate_limit":61)").find("rate_limit 61"), std::string::npos);
  EXPECT_NE(Beyond(R"(,"lifetime_seconds":3601)").find("lifetime_seconds 3601"), std::string::npos);
  EXPECT_NE(Beyond(R"(,"may_delegate":true,"max_delegation_depth":2)").find("max_delegation_depth 2"),
            std::string::npos);
  // No limit at all where the parent has one is wider too.
  auto unlimited = ParseAuthorizationDetails(
      R"([{"type":"ai_access","provider":"openai","capabilities":["chat"],"models":["gpt-4o-mini"]}])", kProviders);
  EXPECT_NE(BeyondParent(unlimited.value(), Parent(), kNow).value_or("fits").find("max_budget_cents"),
            std::string::npos);
}

TEST(DelegationTest, OnlyAGrantAllowedToDelegateMayAndOnlyAsDeepAsAllowed) {
  domain::Grant no = Parent();
  no.scope.max_delegation_depth.reset();
  EXPECT_NE(Beyond("", no).find("may not delegate"), std::string::npos);
  domain::Grant last = Parent();
  last.scope.max_delegation_depth = 1;
  EXPECT_EQ(Beyond("", last), "fits");
  EXPECT_NE(Beyond(R"(,"may_delegate":true)", last).find("children may not delegate"), std::string::npos);
}

TEST(DelegationTest, AChildRunsAtItsParentsPaceUnlessItAsksForLess) {
  domain::Grant parent = Parent();
  parent.scope.max_concurrent = 8;
  auto asked = ParseAuthorizationDetails(
      R"([{"type":"ai_access","provider":"openai","capabilities":["chat"],"max_budget_cents":1,"max_requests":1}])",
      kProviders);
  AccessRequest paced = WithParentPace(asked.value(), parent);
  EXPECT_EQ(paced.scope.rate_limit, 60);
  EXPECT_EQ(paced.scope.max_concurrent, 8);
  EXPECT_FALSE(paced.scope.max_tokens_per_minute);
  EXPECT_EQ(WithParentPace(Child(""), parent).scope.rate_limit, 10);
  EXPECT_FALSE(WithParentPace(asked.value(), parent).scope.max_delegation_depth);
}

TEST(DelegationTest, AChildIsOwnedKeyedAndEndedAsItsParent) {
  constexpr UnixSeconds kTokenEnd = kNow + 86400;  // the subject token's expiry, later than both
  domain::NewRequest made = MakeChildGrant(Child(R"(,"lifetime_seconds":86400)"), Parent(), kNow, kTokenEnd);
  const store::GrantRecord& c = made.grant;
  EXPECT_EQ(c.status, store::GrantStatus::kApproved);
  EXPECT_EQ(c.ancestors, (std::vector<std::string>{"parent", "root"}));
  EXPECT_EQ(c.owner_id, "owner-1");
  EXPECT_EQ(c.key_label, "work");
  EXPECT_EQ(c.expires_at, kNow + 3600);  // never after its parent
  EXPECT_EQ(c.budget_micros, 100 * 10'000);
  EXPECT_EQ(c.max_requests, 10);
  EXPECT_EQ(c.request_id, made.request.id);
  EXPECT_EQ(MakeChildGrant(Child(R"(,"lifetime_seconds":600)"), Parent(), kNow, kTokenEnd).grant.expires_at,
            kNow + 600);
  // Never after the token it was exchanged for.
  EXPECT_EQ(MakeChildGrant(Child(R"(,"lifetime_seconds":600)"), Parent(), kNow, kNow + 90).grant.expires_at, kNow + 90);
}

}  // namespace
}  // namespace ap::oauth
