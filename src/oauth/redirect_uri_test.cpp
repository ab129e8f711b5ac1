#include "oauth/redirect_uri.hpp"

#include <gtest/gtest.h>

namespace ap::oauth {
namespace {

TEST(RedirectUriTest, AcceptsHttpsAndLoopbackHttpInCanonicalForm) {
  for (std::string_view uri :
       {"https://app.example/callback", "https://app.example/", "https://app.example:8443/cb?tenant=a%20b&x=1",
        "https://10.0.0.5/cb", "https://localhost/cb", "http://127.0.0.1/callback", "http://127.0.0.1:53682/callback",
        "http://[::1]:8080/cb", "https://app.example/a%2Fb", "https://xn--bcher-kva.example/cb"})
    EXPECT_TRUE(CheckRedirectUri(uri)) << uri;
}

TEST(RedirectUriTest, RefusesUserinfoEvenAnEmptyOne) {
  for (std::string_view uri :
       {"http://127.0.0.1:@evil.example/callback", "http://127.0.0.1:pw@evil.example/callback",
        "http://@127.0.0.1/callback", "https://app.example@evil.example/cb", "https://user:pass@app.example/cb"}) {
    auto checked = CheckRedirectUri(uri);
    ASSERT_FALSE(checked) << uri;
    EXPECT_NE(checked.error().message.find("userinfo"), std::string::npos) << checked.error().message;
  }
}

TEST(RedirectUriTest, RefusesWhatIsNotCanonical) {
  for (std::string_view uri : {
           "http://evil.example/cb",                 // plain http off loopback
           "http://localhost:8080/cb",               // localhost is no loopback redirect (RFC 8252 §8.3)
           "javascript:alert(1)",                    // no authority
           "ftp://app.example/cb",                   // another scheme
           "HTTPS://app.example/cb",                 // uppercase scheme
           "https://App.Example/cb",                 // uppercase host
           "https://app.example./cb",                // trailing dot
           "https://app..example/cb",                // empty label
           "https://-app.example/cb",                // label starting with '-'
           "http://127.1/cb",                        // a number browsers read as 127.0.0.1
           "https://0x7f.0.0.1/cb",                  // hex address
           "http://127.0.0.1./cb",                   // trailing dot on an address
           "http://127.000.0.1/cb",                  // leading zeros
           "http://[0:0:0:0:0:0:0:1]/cb",            // IPv6 loopback not in canonical form
           "http://[fe80::1%25eth0]/cb",             // zone id
           "https://[2001:db8::1]/cb",               // other IPv6
           "https://app.example/cb#frag",            // fragment
           "https://app.example/cb#",                // empty fragment
           "https:///cb",                            // empty host
           "https://app.example:/cb",                // empty port
           "https://app.example:0443/cb",            // leading zero in the port
           "https://app.example:443/cb",             // default port written out
           "https://app.example:99999/cb",           // port out of range
           "https://app.example",                    // no path
           "https://app.example/a/../cb",            // dot segments
           "https://app.example/./cb",               //
           "https://app.example/a/%2e%2e/cb",        // encoded dot segment
           "https://app.example/a/.%2E/cb",          //
           "https://app.example/%63b",               // encoded unreserved character
           "https://app.example/a%2fb",              // lowercase hex digits
           "https://app.example/c\\b",               // backslash
           "https://app.example\\@evil.example/cb",  //
           "https://app.example/c b",                // space
           "https://app.example/c\tb",               // control characters
           "https://app.example/cb\r\n",             //
           "https://app.example/c\x7f",              //
           "https://app.example/caf\xc3\xa9",        // non-ASCII
           "https://ap%70.example/cb",               // percent-encoded host
           "https://app.example;x/cb",               // sub-delimiters in the host
           "",
       })
    EXPECT_FALSE(CheckRedirectUri(uri)) << uri;
  EXPECT_FALSE(CheckRedirectUri(std::string_view("https://app.example/c\0b", 23)));
  EXPECT_FALSE(CheckRedirectUri("https://app.example/" + std::string(2048, 'a')));
}

TEST(RedirectUriTest, MatchesExactlyExceptALoopbackPort) {
  EXPECT_TRUE(RedirectMatches("https://app.example/cb", "https://app.example/cb"));
  EXPECT_TRUE(RedirectMatches("https://app.example/cb?a=1", "https://app.example/cb?a=1"));
  EXPECT_TRUE(RedirectMatches("http://127.0.0.1/callback", "http://127.0.0.1:53682/callback"));
  EXPECT_TRUE(RedirectMatches("http://127.0.0.1:1234/callback", "http://127.0.0.1:53682/callback"));
  EXPECT_TRUE(RedirectMatches("http://127.0.0.1:1234/callback", "http://127.0.0.1/callback"));
  EXPECT_TRUE(RedirectMatches("http://[::1]/cb", "http://[::1]:4000/cb"));

  EXPECT_FALSE(RedirectMatches("https://app.example/cb", "https://app.example:8443/cb")) << "only loopback ports vary";
  EXPECT_FALSE(RedirectMatches("https://localhost/cb", "https://localhost:8443/cb"));
  EXPECT_FALSE(RedirectMatches("https://app.example/cb", "https://app.example/cb/"));
  EXPECT_FALSE(RedirectMatches("https://app.example/cb", "https://app.example/CB"));
  EXPECT_FALSE(RedirectMatches("https://app.example/cb", "https://app.example/cb?x=1"));
  EXPECT_FALSE(RedirectMatches("https://app.example/cb?a=1", "https://app.example/cb?a=2"));
  EXPECT_FALSE(RedirectMatches("https://app.example/cb", "https://evil.example/cb"));
  EXPECT_FALSE(RedirectMatches("http://127.0.0.1/callback", "http://[::1]/callback"));
  EXPECT_FALSE(RedirectMatches("http://127.0.0.1/callback", "https://127.0.0.1/callback"));
  EXPECT_FALSE(RedirectMatches("http://127.0.0.1/callback", "http://127.0.0.1:53682/callback/../evil"));
  EXPECT_FALSE(RedirectMatches("http://127.0.0.1/callback", "http://127.0.0.1.evil.example/callback"));
}

TEST(RedirectUriTest, TheUserinfoTrickMatchesNothing) {
  const char* registered = "http://127.0.0.1/callback";
  for (std::string_view attack :
       {"http://127.0.0.1:@evil.example/callback", "http://127.0.0.1:x@evil.example/callback",
        "http://127.0.0.1:53682@evil.example/callback", "http://127.0.0.1\\@evil.example/callback",
        "http://127.0.0.1:53682/callback#@evil.example", "http://127.0.0.1:53682/%2e%2e/callback",
        "http://EVIL.example/callback", "http://evil.example./callback", "http://127.0.0.1:53682/callback\t"})
    EXPECT_FALSE(RedirectMatches(registered, attack)) << attack;
  EXPECT_FALSE(RedirectMatches("http://127.0.0.1:@evil.example/callback", "http://127.0.0.1:@evil.example/callback"))
      << "a bad URI stored before these checks matches nothing, not even itself";
}

TEST(RedirectUriTest, OriginIsSchemeHostAndPort) {
  EXPECT_EQ(RedirectOrigin("http://127.0.0.1:53682/callback?x=1"), "http://127.0.0.1:53682");
  EXPECT_EQ(RedirectOrigin("https://app.example/cb"), "https://app.example");
  EXPECT_EQ(RedirectOrigin("http://[::1]:80/cb"), "");
  EXPECT_EQ(RedirectOrigin("http://127.0.0.1:@evil.example/callback"), "");
}

}  // namespace
}  // namespace ap::oauth
