#include "http/same_origin.hpp"

#include <gtest/gtest.h>

namespace ap::http {
namespace {

Request Post(std::initializer_list<std::pair<std::string, std::string>> headers, Verb method = Verb::post) {
  Request req(method, "/consent/x", 11);
  req.set(bhttp::field::host, "127.0.0.1:8080");
  for (const auto& [name, value] : headers) req.insert(name, value);
  return req;
}

TEST(SameOriginTest, OwnOriginAndNonBrowsersPass) {
  EXPECT_FALSE(CrossOriginReason(Post({{"Origin", "http://127.0.0.1:8080"}}), false, ""));
  EXPECT_FALSE(
      CrossOriginReason(Post({{"Origin", "http://127.0.0.1:8080"}, {"Sec-Fetch-Site", "same-origin"}}), false, ""));
  EXPECT_FALSE(CrossOriginReason(Post({{"Sec-Fetch-Site", "none"}}), false, "")) << "typed or bookmarked by the person";
  EXPECT_FALSE(CrossOriginReason(Post({}), false, "")) << "curl sends neither header";
  EXPECT_FALSE(CrossOriginReason(Post({{"Origin", "HTTP://127.0.0.1:8080"}}), false, ""))
      << "schemes and hosts ignore case";
}

TEST(SameOriginTest, ForeignNullAndCrossSiteAreRefused) {
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "https://evil.example"}}), false, ""));
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "null"}}), false, ""));
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "http://127.0.0.1:9999"}}), false, ""))
      << "another port is another origin";
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "https://127.0.0.1:8080"}}), false, "")) << "another scheme too";
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "http://127.0.0.1:8080.evil.example"}}), false, ""));
  EXPECT_TRUE(CrossOriginReason(Post({{"Sec-Fetch-Site", "cross-site"}}), false, ""));
  EXPECT_TRUE(CrossOriginReason(Post({{"Sec-Fetch-Site", "same-site"}}), false, "")) << "a sibling port or subdomain";
  EXPECT_TRUE(
      CrossOriginReason(Post({{"Origin", "http://127.0.0.1:8080"}, {"Sec-Fetch-Site", "cross-site"}}), false, ""))
      << "either header gives it away";
  EXPECT_TRUE(
      CrossOriginReason(Post({{"Origin", "http://127.0.0.1:8080"}, {"Origin", "https://evil.example"}}), false, ""));
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "https://evil.example"}}, Verb::patch), false, ""));
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "https://evil.example"}}, Verb::delete_), false, ""));
}

TEST(SameOriginTest, BehindATlsProxyThePublicUrlsOriginIsOwn) {
  // The proxy passes on Host 127.0.0.1:8080; the browser's page is https://broker.example.
  const char* public_url = "https://Broker.example:443/base";
  EXPECT_FALSE(CrossOriginReason(Post({{"Origin", "https://broker.example"}}), false, public_url));
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "http://broker.example"}}), false, public_url)) << "not its scheme";
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "https://broker.example:8443"}}), false, public_url))
      << "nor its port";
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "https://broker.example.evil.example"}}), false, public_url));
  // Reached directly on its loopback port (an SSH tunnel), past the proxy.
  EXPECT_FALSE(CrossOriginReason(Post({{"Origin", "http://127.0.0.1:8080"}}), false, public_url));
  EXPECT_EQ(OriginOf("HTTPS://Broker.example:8443/base?x#y"), "https://broker.example:8443");
  EXPECT_EQ(OriginOf("https://broker.example:443"), "https://broker.example");
  EXPECT_EQ(OriginOf("http://broker.example:80/"), "http://broker.example");
  EXPECT_EQ(OriginOf("https://broker.example:8443"), "https://broker.example:8443");
  EXPECT_EQ(OriginOf("broker.example"), "");
}

TEST(SameOriginTest, SafeMethodsAreNotChecked) {
  EXPECT_FALSE(CrossOriginReason(Post({{"Origin", "https://evil.example"}}, Verb::get), false, ""));
  EXPECT_FALSE(CrossOriginReason(Post({{"Sec-Fetch-Site", "cross-site"}}, Verb::head), false, ""));
}

TEST(SameOriginTest, HttpsBrokersCompareTheHttpsOrigin) {
  EXPECT_FALSE(CrossOriginReason(Post({{"Origin", "https://127.0.0.1:8080"}}), true, ""));
  EXPECT_TRUE(CrossOriginReason(Post({{"Origin", "http://127.0.0.1:8080"}}), true, ""));
}

}  // namespace
}  // namespace ap::http
