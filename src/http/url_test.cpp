#include "http/url.hpp"

#include <gtest/gtest.h>

namespace ap::http {
namespace {

std::string HostHeader(const Origin& origin) {
  std::string out = "Host: ";
  origin.AppendHostHeader(out);
  return out.substr(6);
}

TEST(BaseUrl, ParsesOriginsAndPrefixes) {
  auto o = ParseBaseUrl("http://127.0.0.1:9000").value();
  EXPECT_FALSE(o.tls);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, "9000");
  EXPECT_EQ(o.path_prefix, "");
  EXPECT_EQ(HostHeader(o), "127.0.0.1:9000");

  auto p = ParseBaseUrl("https://api.openai.com/").value();
  EXPECT_TRUE(p.tls);
  EXPECT_EQ(p.port, "443");
  EXPECT_EQ(HostHeader(p), "api.openai.com");
  EXPECT_EQ(p.path_prefix, "");

  EXPECT_EQ(ParseBaseUrl("https://gw.example/openai/").value().path_prefix, "/openai");
  EXPECT_EQ(HostHeader(ParseBaseUrl("http://[::1]:81").value()), "[::1]:81");
}

TEST(WebUrl, AcceptsOnlyAbsoluteHttpUrlsWithAHost) {
  EXPECT_TRUE(IsWebUrl("https://notes.example/app?x=1"));
  EXPECT_TRUE(IsWebUrl("http://127.0.0.1:8080/"));
  EXPECT_FALSE(IsWebUrl("javascript:alert(1)"));
  EXPECT_FALSE(IsWebUrl("ftp://files.example"));
  EXPECT_FALSE(IsWebUrl("/relative"));
  EXPECT_FALSE(IsWebUrl("https://"));
  EXPECT_FALSE(IsWebUrl("https://bank.example@evil.example/"));
  EXPECT_FALSE(IsWebUrl("https://@evil.example/"));
  EXPECT_FALSE(IsWebUrl("https://127.0.0.1.evil.example/")) << "Boost.URL 1.81 reads the host as 127.0.0.1";
}

TEST(WebUrl, HostIsWhatTheBrowserReaches) {
  EXPECT_EQ(UrlHost("https://notes.example/app?x=1"), "notes.example");
  EXPECT_EQ(UrlHost("http://127.0.0.1:8080/"), "127.0.0.1:8080");
  EXPECT_EQ(UrlHost("https://bank.example@evil.example/"), "evil.example");
  EXPECT_EQ(UrlHost("https://evil.example#@bank.example"), "evil.example");
  EXPECT_EQ(UrlHost("/relative"), "");
  EXPECT_EQ(UrlHost("https://127.0.0.1.evil.example/"), "");
}

TEST(SameOriginPath, AcceptsPathsOnThisSite) {
  for (std::string_view path : {"/", "/apps", "/consent/0b7e-11", "/device?user_code=BCDF-GHJK",
                                "/oauth/authorize?client_id=app_1&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
                                "/a/b;c=d/@x:y", "/%2F%2Fevil.example"})
    EXPECT_TRUE(IsSameOriginPath(path)) << path;
}

TEST(SameOriginPath, RefusesWhatABrowserCouldTakeElsewhere) {
  for (std::string_view path : {
           "",
           "apps",
           "https://evil.example/",
           "//evil.example/",
           "///evil.example",
           "/\\evil.example",
           "/\\/evil.example",
           "\\\\evil.example",
           "/\t/evil.example/x",
           "/\n/evil.example",
           "/\r/evil.example",
           "/\x0b/evil.example",
           "/\x7f/evil.example",
           "/x\x1f",
           "/ /evil.example",
           "/caf\xc3\xa9",
           "/x#frag",
           "/x%zz",
           "/x%2",
           "/{x}",
           "/x|y",
           "/x^y",
           "/x`y",
           "/x\"y",
           "/x<y>",
           "/[x]",
       })
    EXPECT_FALSE(IsSameOriginPath(path)) << path;
  EXPECT_FALSE(IsSameOriginPath(std::string_view("/\0/evil.example", 15)));
}

TEST(BaseUrl, RefusesWhatCannotBeAnOrigin) {
  EXPECT_FALSE(ParseBaseUrl("ftp://x"));
  EXPECT_FALSE(ParseBaseUrl("127.0.0.1:9000"));
  EXPECT_FALSE(ParseBaseUrl("http://user:pw@host"));
  // The refusal names the scheme and host, never what may hold a secret.
  EXPECT_EQ(ParseBaseUrl("https://u:S3CRETPW@hooks.example/x").error().message,
            "invalid base URL 'https://***@hooks.example/…': credentials do not belong in the URL");
  EXPECT_EQ(ParseBaseUrl("https://hooks.example/T0/B0/S3CRETPW?token=S3CRETPW").error().message,
            "invalid base URL 'https://hooks.example/…': no query or fragment allowed");
  EXPECT_EQ(ParseBaseUrl("gopher://host").error().message,
            "invalid base URL 'gopher://host': the scheme must be http or https");
  EXPECT_EQ(ParseBaseUrl("S3CRETPW").error().message, "invalid base URL: not an absolute URL");
  EXPECT_EQ(ParseBaseUrl("https://u:Xy7Qk/9sLm@hooks.example/").error().message.find("Xy7Qk"), std::string::npos);
  EXPECT_FALSE(ParseBaseUrl("http://host/?a=1"));
  EXPECT_FALSE(ParseBaseUrl(""));
  EXPECT_FALSE(ParseBaseUrl("http://host:/x"));
  EXPECT_FALSE(ParseBaseUrl("http://127.0.0.1.evil.example/"));
  std::string longer = "http://host.example/x?query";
  EXPECT_EQ(ParseBaseUrl(std::string_view(longer).substr(0, 21)).value().path_prefix, "/x")
      << "a view is read to its end only";
}

}  // namespace
TEST(PercentEncode, KeepsUnreservedAndWhatItIsToldAndEncodesEveryOtherByte) {
  EXPECT_EQ(PercentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(PercentEncode("a b/c&d=é"), "a%20b%2Fc%26d%3D%C3%A9");
  EXPECT_EQ(PercentEncode("/grants/x y", "/"), "/grants/x%20y");
  EXPECT_EQ(PercentEncode(std::string("\0\xff", 2)), "%00%FF");
}

}  // namespace ap::http
