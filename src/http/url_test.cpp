#include "http/url.hpp"

#include <gtest/gtest.h>

namespace ap::http {
namespace {

TEST(BaseUrl, ParsesOriginsAndPrefixes) {
  auto o = ParseBaseUrl("http://127.0.0.1:9000").value();
  EXPECT_FALSE(o.tls);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, "9000");
  EXPECT_EQ(o.path_prefix, "");
  EXPECT_EQ(o.HostHeader(), "127.0.0.1:9000");

  auto p = ParseBaseUrl("https://api.openai.com/").value();
  EXPECT_TRUE(p.tls);
  EXPECT_EQ(p.port, "443");
  EXPECT_EQ(p.HostHeader(), "api.openai.com");
  EXPECT_EQ(p.path_prefix, "");

  EXPECT_EQ(ParseBaseUrl("https://gw.example/openai/").value().path_prefix, "/openai");
  EXPECT_EQ(ParseBaseUrl("http://[::1]:81").value().HostHeader(), "[::1]:81");
}

TEST(WebUrl, AcceptsOnlyAbsoluteHttpUrlsWithAHost) {
  EXPECT_TRUE(IsWebUrl("https://notes.example/app?x=1"));
  EXPECT_TRUE(IsWebUrl("http://127.0.0.1:8080/"));
  EXPECT_FALSE(IsWebUrl("javascript:alert(1)"));
  EXPECT_FALSE(IsWebUrl("ftp://files.example"));
  EXPECT_FALSE(IsWebUrl("/relative"));
  EXPECT_FALSE(IsWebUrl("https://"));
}

TEST(BaseUrl, RefusesWhatCannotBeAnOrigin) {
  EXPECT_FALSE(ParseBaseUrl("ftp://x"));
  EXPECT_FALSE(ParseBaseUrl("127.0.0.1:9000"));
  EXPECT_FALSE(ParseBaseUrl("http://user:pw@host"));
  EXPECT_FALSE(ParseBaseUrl("http://host/?a=1"));
  EXPECT_FALSE(ParseBaseUrl(""));
  std::string longer = "http://host.example/x?query";
  EXPECT_EQ(ParseBaseUrl(std::string_view(longer).substr(0, 21)).value().path_prefix, "/x")
      << "a view is read to its end only";
}

}  // namespace
}  // namespace ap::http
