#include "proxy/providers.hpp"

#include <gtest/gtest.h>

namespace ap::proxy {
namespace {

TEST(Providers, NamesRoundTripAndDefaultsAreTheRealHttpsEndpoints) {
  for (Provider p : kAllProviders) {
    EXPECT_EQ(ParseProvider(ProviderName(p)), p);
    auto base = http::ParseBaseUrl(DefaultBaseUrl(p));
    ASSERT_TRUE(base);
    EXPECT_TRUE(base->tls);
    EXPECT_FALSE(KeyEnvironmentVariables(p).empty());
  }
  EXPECT_FALSE(ParseProvider("cohere"));
  EXPECT_EQ(std::string(KeyEnvironmentVariables(Provider::kAnthropic)[2]), "CLAUDE_API_KEY");
  EXPECT_EQ(std::string(KeyEnvironmentVariables(Provider::kGoogle)[2]), "GEMINI_API_KEY");
}

}  // namespace
}  // namespace ap::proxy
