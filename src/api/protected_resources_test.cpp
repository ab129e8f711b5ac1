#include "api/protected_resources.hpp"

#include <gtest/gtest.h>

namespace ap::api {
namespace {

TEST(ProtectedResourcesTest, OnePerProviderPrefixAndTheBrokerItself) {
  proxy::ProviderTable table;
  proxy::ProviderEndpoint ollama = table.For(proxy::Provider::kOpenAI);
  ollama.name = "ollama";
  table.endpoints.push_back(ollama);
  auto all = ProtectedResources(table);
  std::vector<std::string> paths;
  for (const auto& r : all) paths.push_back(r.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"", "/openai/v1", "/anthropic", "/gemini", "/ollama/v1", "/proxy"}));
  EXPECT_EQ(ResourceOf(all, "/openai/v1/chat/completions?x=1").path, "/openai/v1");
  EXPECT_EQ(ResourceOf(all, "/anthropic/v1/messages").path, "/anthropic");
  EXPECT_EQ(ResourceOf(all, "/gemini/v1beta/models/gemini-2.5-flash:generateContent").path, "/gemini");
  EXPECT_EQ(ResourceOf(all, "/ollama/v1/models").path, "/ollama/v1");
  EXPECT_EQ(ResourceOf(all, "/proxy/chat").path, "/proxy");
  EXPECT_EQ(ResourceOf(all, "/v1/passport").path, "");
  EXPECT_EQ(ResourceOf(all, "/openai/v10/x").path, "") << "a prefix counts segment by segment";
  EXPECT_EQ(ResourceOf(all, "/anthropicx/v1/messages").path, "");
  EXPECT_EQ(ResourceOf(all, "/gemini/v1beta/models").provider, "google");
}

TEST(ProtectedResourcesTest, MetadataSitsAtTheWellKnownNameBeforeThePath) {
  auto all = ProtectedResources(proxy::ProviderTable());
  EXPECT_EQ(ResourceMetadataUrl("http://127.0.0.1:8080", all[1]),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/openai/v1");
  EXPECT_EQ(ResourceMetadataUrl("http://127.0.0.1:8080", all[0]),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource");
  EXPECT_EQ(ResourceUrl("http://127.0.0.1:8080", all[0]), "http://127.0.0.1:8080");
  EXPECT_EQ(FindResource(all, "http://127.0.0.1:8080", "http://127.0.0.1:8080/"), &all[0]);
  EXPECT_EQ(FindResource(all, "http://127.0.0.1:8080", "http://127.0.0.1:8080/gemini"), &all[3]);
  EXPECT_EQ(FindResource(all, "http://127.0.0.1:8080", "http://127.0.0.1:8080/gemini/v1beta"), nullptr);
}

}  // namespace
}  // namespace ap::api
