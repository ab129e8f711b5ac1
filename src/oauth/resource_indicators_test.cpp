#include "oauth/resource_indicators.hpp"

#include <gtest/gtest.h>

namespace ap::oauth {
namespace {

constexpr std::string_view kBroker = "https://broker.example";

class ResourceIndicatorsTest : public ::testing::Test {
 protected:
  ResourceIndicatorsTest() {
    proxy::ProviderTable table;
    proxy::ProviderEndpoint groq = table.For(proxy::Provider::kOpenAI);
    groq.name = "groq";
    table.endpoints.push_back(groq);
    all_ = api::ProtectedResources(table);
  }
  std::string Refusal(const std::vector<std::string>& asked, std::string_view provider = {}) {
    auto r = CheckResources(asked, all_, kBroker, provider);
    return r ? "accepted" : r.error().message;
  }
  std::vector<api::ProtectedResource> all_;
};

TEST_F(ResourceIndicatorsTest, TakesTheBrokersResourcesByTheirExactUrl) {
  auto r = CheckResources({"https://broker.example/openai/v1", "https://broker.example/", "https://broker.example/groq/v1",
                           "https://broker.example/openai/v1"},
                          all_, kBroker, "openai");
  ASSERT_FALSE(r) << "groq serves groq, not openai";
  r = CheckResources({"https://broker.example/openai/v1", "https://broker.example/", "https://broker.example/proxy",
                      "https://broker.example/openai/v1"},
                     all_, kBroker, "openai");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, (std::vector<std::string>{"https://broker.example/openai/v1", "https://broker.example",
                                           "https://broker.example/proxy"}));
}

TEST_F(ResourceIndicatorsTest, RefusesUnknownOnesAndOnesOfAnotherProvider) {
  EXPECT_NE(Refusal({"https://broker.example/openai"}).find("unknown resource"), std::string::npos);
  EXPECT_NE(Refusal({"https://broker.example/openai/v1/"}).find("unknown resource"), std::string::npos);
  EXPECT_NE(Refusal({"https://other.example/openai/v1"}).find("unknown resource"), std::string::npos);
  EXPECT_NE(Refusal({"https://broker.example/openai/v1#x"}).find("unknown resource"), std::string::npos);
  EXPECT_NE(Refusal({"/openai/v1"}).find("unknown resource"), std::string::npos);
  EXPECT_EQ(Refusal({"https://broker.example/anthropic"}, "openai"),
            "the resource https://broker.example/anthropic serves anthropic, and this request is for openai");
  EXPECT_EQ(Refusal({"https://broker.example/gemini"}, "google"), "accepted");
}

TEST_F(ResourceIndicatorsTest, ATokenRequestNarrowsWithinWhatTheAuthorizationNamed) {
  std::vector<std::string> granted{"https://broker.example/openai/v1", "https://broker.example/proxy"};
  EXPECT_EQ(*NarrowResources({}, granted), granted);
  EXPECT_EQ(*NarrowResources({"https://broker.example/proxy"}, granted),
            std::vector<std::string>{"https://broker.example/proxy"});
  EXPECT_FALSE(NarrowResources({"https://broker.example"}, granted));
  EXPECT_EQ(*NarrowResources({"https://broker.example"}, {}), std::vector<std::string>{"https://broker.example"});
  EXPECT_TRUE(NarrowResources({}, {})->empty());
}

}  // namespace
}  // namespace ap::oauth
