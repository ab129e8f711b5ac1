#include "domain/scope.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace ap::domain {
namespace {

Result<Scope> Parse(std::string_view json) { return ParseScope(boost::json::parse(json)); }

bool HasFieldError(const Result<Scope>& r, std::string_view field) {
  if (r) return false;
  for (const auto& e : r.error().field_errors)
    if (e.field == field) return true;
  return false;
}

TEST(Scope, AcceptsTheReferenceShape) {
  auto s = Parse(R"({"provider":"openai","models":["gpt-4o-mini"],"capabilities":["chat"],
                     "maxBudgetCents":500,"maxRequests":100,"rateLimit":10})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->provider, "openai");
  EXPECT_TRUE(s->AllowsModel("gpt-4o-mini"));
  EXPECT_FALSE(s->AllowsModel("gpt-4o"));
  EXPECT_TRUE(s->AllowsCapability("chat"));
  EXPECT_FALSE(s->AllowsCapability("images"));
  EXPECT_EQ(s->max_requests, 100);
  EXPECT_EQ(s->rate_limit, 10);
  EXPECT_EQ(
      boost::json::parse(ScopeToJsonText(*s)),
      boost::json::parse(
          R"({"provider":"openai","models":["gpt-4o-mini"],"capabilities":["chat"],"maxBudgetCents":500,"maxRequests":100,"rateLimit":10})"));
}

TEST(Scope, NamesEveryBadField) {
  EXPECT_TRUE(
      HasFieldError(Parse(R"({"provider":"cohere","models":["m"],"capabilities":["chat"]})"), "scope.provider"));
  EXPECT_TRUE(HasFieldError(Parse(R"({"models":["m"],"capabilities":["chat"]})"), "scope.provider"));
  EXPECT_TRUE(HasFieldError(Parse(R"({"provider":"openai","models":"gpt","capabilities":["chat"]})"), "scope.models"));
  EXPECT_TRUE(HasFieldError(Parse(R"({"provider":"openai","models":[1],"capabilities":["chat"]})"), "scope.models"));
  EXPECT_TRUE(
      HasFieldError(Parse(R"({"provider":"openai","models":["m"],"capabilities":["fly"]})"), "scope.capabilities"));
  EXPECT_TRUE(HasFieldError(Parse(R"({"provider":"openai","models":["m"],"capabilities":["chat"],"maxRequests":-1})"),
                            "scope.maxRequests"));
  EXPECT_TRUE(HasFieldError(Parse(R"({"provider":"openai","models":["m"],"capabilities":["chat"],"maxRequests":1.5})"),
                            "scope.maxRequests"));
  EXPECT_TRUE(HasFieldError(Parse(R"({"provider":"openai","models":["m"],"capabilities":["chat"],"rateLimit":"10"})"),
                            "scope.rateLimit"));
  EXPECT_TRUE(HasFieldError(Parse(R"({"provider":"openai","models":["m"],"capabilities":["chat"],"maxTokens":5})"),
                            "scope.maxTokens"));
  EXPECT_TRUE(HasFieldError(Parse(R"("openai")"), "scope"));
}

TEST(Scope, AnEmptyModelListAllowsAnyModelAsInTheReference) {
  auto s = Parse(R"({"provider":"openai","models":[],"capabilities":[],"maxRequests":0})");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->AllowsModel("anything"));
  EXPECT_FALSE(s->AllowsCapability("chat"));
  EXPECT_EQ(s->max_requests, 0);
}

TEST(Scope, JoinsListsForHumans) {
  EXPECT_EQ(JoinForHumans({"a"}), "a");
  EXPECT_EQ(JoinForHumans({"a", "b"}), "a and b");
  EXPECT_EQ(JoinForHumans({"a", "b", "c"}), "a, b and c");
}

}  // namespace
}  // namespace ap::domain

namespace ap::domain {
namespace {

TEST(ModelPatternTest, StarMatchesAnyRunExactIdsMatchThemselves) {
  EXPECT_TRUE(ModelMatches("gpt-4o*", "gpt-4o"));
  EXPECT_TRUE(ModelMatches("gpt-4o*", "gpt-4o-mini-2024-07-18"));
  EXPECT_FALSE(ModelMatches("gpt-4o*", "gpt-4"));
  EXPECT_FALSE(ModelMatches("gpt-4o*", "xgpt-4o"));
  EXPECT_TRUE(ModelMatches("claude-*-latest", "claude-3-5-haiku-latest"));
  EXPECT_FALSE(ModelMatches("claude-*-latest", "claude-3-5-haiku-20241022"));
  EXPECT_TRUE(ModelMatches("gpt-4o-mini", "gpt-4o-mini"));
  EXPECT_FALSE(ModelMatches("gpt-4o-mini", "gpt-4o-mini-2024-07-18"));
  EXPECT_TRUE(ModelMatches("*", "anything"));
}

TEST(ModelPatternTest, ScopeAllowsModelsByPattern) {
  Scope scope;
  scope.models = {"gpt-4o-mini*", "o3"};
  EXPECT_TRUE(scope.AllowsModel("gpt-4o-mini-2024-07-18"));
  EXPECT_TRUE(scope.AllowsModel("o3"));
  EXPECT_FALSE(scope.AllowsModel("o3-pro"));
  EXPECT_FALSE(scope.AllowsModel("gpt-4o"));
}

}  // namespace
}  // namespace ap::domain
