#include "oauth/authorization_details.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ap::oauth {
namespace {

const std::vector<std::string> kProviders = {"openai", "anthropic", "google"};

std::string Refusal(std::string_view details) {
  auto r = ParseAuthorizationDetails(details, kProviders);
  return r ? "accepted" : r.error().message;
}

TEST(AuthorizationDetailsTest, ReadsAnAiAccessItem) {
  auto r = ParseAuthorizationDetails(
      R"([{"type":"ai_access","provider":"openai","models":["gpt-4o-mini"],"capabilities":["chat"],
           "max_budget_cents":500,"max_requests":100,"rate_limit":10,"lifetime_seconds":604800,"reason":"notes"}])",
      kProviders);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->scope.provider, "openai");
  EXPECT_EQ(r->scope.models, std::vector<std::string>{"gpt-4o-mini"});
  EXPECT_EQ(r->scope.max_budget_cents, 500);
  EXPECT_EQ(r->scope.max_requests, 100);
  EXPECT_EQ(r->scope.rate_limit, 10);
  EXPECT_EQ(r->lifetime_seconds, 604800);
  EXPECT_EQ(r->reason, "notes");
}

TEST(AuthorizationDetailsTest, RefusesWhatItDoesNotUnderstandWithAReason) {
  EXPECT_NE(Refusal("not json").find("not JSON"), std::string::npos);
  EXPECT_NE(Refusal("[]").find("non-empty array"), std::string::npos);
  EXPECT_NE(Refusal(R"([{"type":"payment_initiation"}])").find("unknown type"), std::string::npos);
  EXPECT_NE(Refusal(R"([{"provider":"openai"}])").find("type is required"), std::string::npos);
  EXPECT_NE(Refusal(R"([{"type":"ai_access","provider":"openai","capabilities":["chat"],"colour":"red"}])")
                .find("unknown field 'colour'"),
            std::string::npos);
  EXPECT_NE(Refusal(R"([{"type":"ai_access","provider":"cohere","capabilities":["chat"]}])").find("provider"),
            std::string::npos);
  EXPECT_NE(Refusal(R"([{"type":"ai_access","provider":"openai","capabilities":"chat"}])").find("capabilities"),
            std::string::npos);
  EXPECT_NE(Refusal(R"([{"type":"ai_access","provider":"openai","capabilities":["chat"],"max_requests":-1}])")
                .find("max_requests"),
            std::string::npos);
  EXPECT_NE(Refusal(R"([{"type":"ai_access","provider":"openai","capabilities":[]}])").find("at least one"),
            std::string::npos);
  EXPECT_NE(Refusal(R"([{"type":"ai_access","provider":"openai","capabilities":["chat"],"reason":"a\u0000b"}])")
                .find("without NUL"),
            std::string::npos);
  EXPECT_NE(Refusal(R"([{"type":"ai_access","provider":"openai","capabilities":["chat"],"lifetime_seconds":"1d"}])")
                .find("lifetime_seconds"),
            std::string::npos);
}

TEST(AuthorizationDetailsTest, ScopeShorthand) {
  auto r = ParseScopeShorthand("openai:chat openai:embeddings", kProviders);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->scope.capabilities, (std::vector<std::string>{"chat", "embeddings"}));
  EXPECT_TRUE(r->scope.models.empty());
  EXPECT_FALSE(ParseScopeShorthand("openai:chat anthropic:chat", kProviders));
  EXPECT_FALSE(ParseScopeShorthand("chat", kProviders));
  EXPECT_FALSE(ParseScopeShorthand("openai:fly", kProviders));
  EXPECT_FALSE(ParseScopeShorthand("", kProviders));
}

}  // namespace
AccessRequest Asked(std::string_view details) {
  auto r = ParseAuthorizationDetails(details, kProviders);
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : AccessRequest{};
}

TEST(AuthorizationDetailsTest, NamesWhatATokenRequestAsksBeyondItsGrant) {
  AccessRequest granted = Asked(
      R"([{"type":"ai_access","provider":"openai","models":["gpt-4o*"],"capabilities":["chat"],
           "max_budget_cents":500,"max_requests":100,"lifetime_seconds":3600}])");
  const domain::Scope& g = granted.scope;
  auto beyond = [&](std::string_view details) { return BeyondGrant(Asked(details), g, 3600).value_or("inside"); };
  EXPECT_EQ(beyond(R"([{"type":"ai_access","provider":"openai","models":["gpt-4o-mini"],"capabilities":["chat"],
                        "max_budget_cents":500,"max_requests":10}])"),
            "inside");
  EXPECT_EQ(beyond(R"([{"type":"ai_access","provider":"openai","models":["gpt-4o-mini*"],"capabilities":["chat"],
                        "max_budget_cents":100,"max_requests":100,"lifetime_seconds":600}])"),
            "inside");
  EXPECT_EQ(beyond(R"([{"type":"ai_access","provider":"anthropic","capabilities":["chat"],"max_budget_cents":1,
                        "max_requests":1}])"),
            "the grant is for openai, not anthropic");
  EXPECT_EQ(beyond(R"([{"type":"ai_access","provider":"openai","models":["gpt-4o"],"capabilities":["chat","images"],
                        "max_budget_cents":1,"max_requests":1}])"),
            "the grant does not hold the capability images");
  EXPECT_EQ(beyond(R"([{"type":"ai_access","provider":"openai","capabilities":["chat"],"max_budget_cents":1,
                        "max_requests":1}])"),
            "the grant holds only the models gpt-4o*");
  EXPECT_EQ(beyond(R"([{"type":"ai_access","provider":"openai","models":["gpt-*"],"capabilities":["chat"],
                        "max_budget_cents":1,"max_requests":1}])"),
            "the grant does not hold the model gpt-*");
  EXPECT_EQ(beyond(R"([{"type":"ai_access","provider":"openai","models":["gpt-4o"],"capabilities":["chat"],
                        "max_budget_cents":501,"max_requests":1}])"),
            "max_budget_cents 501 is more than the grant's 500");
  EXPECT_EQ(beyond(R"([{"type":"ai_access","provider":"openai","models":["gpt-4o"],"capabilities":["chat"],
                        "max_budget_cents":5}])"),
            "max_requests is 100 in the grant; the request asks none");
  EXPECT_EQ(beyond(R"([{"type":"ai_access","provider":"openai","models":["gpt-4o"],"capabilities":["chat"],
                        "max_budget_cents":5,"max_requests":5,"lifetime_seconds":7200}])"),
            "lifetime_seconds 7200 is more than the grant's 3600");
  auto shorthand = ParseScopeShorthand("openai:chat", kProviders);
  ASSERT_TRUE(shorthand);
  EXPECT_EQ(BeyondGrant(*shorthand, g, 3600).value_or("inside"), "the grant holds only the models gpt-4o*");
}

}  // namespace ap::oauth

namespace ap::oauth {
namespace {

TEST(AuthorizationDetailsTest, ReadsWhetherAndHowDeepTheAppMayDelegate) {
  const std::string base = R"([{"type":"ai_access","provider":"openai","capabilities":["chat"])";
  auto two = ParseAuthorizationDetails(base + R"(,"may_delegate":true,"max_delegation_depth":2}])", kProviders);
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_EQ(two->scope.max_delegation_depth, 2);
  EXPECT_EQ(ParseAuthorizationDetails(base + R"(,"may_delegate":true}])", kProviders)->scope.max_delegation_depth, 1);
  EXPECT_FALSE(ParseAuthorizationDetails(base + R"(,"may_delegate":false}])", kProviders)->scope.max_delegation_depth);
  EXPECT_NE(Refusal(base + R"(,"max_delegation_depth":2}])").find("needs may_delegate"), std::string::npos);
  EXPECT_NE(Refusal(base + R"(,"may_delegate":"yes"}])").find("true or false"), std::string::npos);
  EXPECT_NE(Refusal(base + R"(,"may_delegate":true,"max_delegation_depth":5}])").find("from 1 to 4"),
            std::string::npos);
  EXPECT_NE(Refusal(base + R"(,"may_delegate":true,"max_delegation_depth":0}])").find("from 1 to 4"),
            std::string::npos);
  // The token response says what was granted in the same words.
  auto details = GrantedDetails(two->scope, 3600);
  EXPECT_EQ(details[0].at("may_delegate"), true);
  EXPECT_EQ(details[0].at("max_delegation_depth"), 2);
  // A refresh may not ask for delegation its grant lacks, nor deeper.
  domain::Scope granted = two->scope;
  EXPECT_FALSE(BeyondGrant(*two, granted, 3600));
  granted.max_delegation_depth = 1;
  EXPECT_NE(BeyondGrant(*two, granted, 3600).value_or("").find("max_delegation_depth 2"), std::string::npos);
  granted.max_delegation_depth.reset();
  EXPECT_NE(BeyondGrant(*two, granted, 3600).value_or("").find("may not delegate"), std::string::npos);
}

}  // namespace
}  // namespace ap::oauth
