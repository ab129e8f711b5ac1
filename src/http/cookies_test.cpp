#include "http/cookies.hpp"

#include <gtest/gtest.h>

namespace ap::http {
namespace {

TEST(CookiesTest, FindsACookieAmongOthersAndHeaders) {
  Request req;
  req.insert(bhttp::field::cookie, "a=1; theme=dark");
  req.insert(bhttp::field::cookie, "session=abc.def; b=2");
  EXPECT_EQ(CookieValue(req, "session"), "abc.def");
  EXPECT_EQ(CookieValue(req, "theme"), "dark");
  EXPECT_FALSE(CookieValue(req, "sess"));
  EXPECT_FALSE(CookieValue(Request(), "session"));
}

TEST(CookiesTest, SetCookieCarriesTheAttributes) {
  CookieOptions secure;
  secure.secure = true;
  EXPECT_EQ(SetCookie("__Host-s", "v", secure), "__Host-s=v; Path=/; Secure; HttpOnly; SameSite=Lax");
  CookieOptions gone;
  gone.max_age_seconds = 0;
  EXPECT_EQ(SetCookie("s", "", gone), "s=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
}

TEST(CookiesTest, ParsesForms) {
  auto form = ParseForm("username=al%20ice&password=a%2Bb+c&username=second");
  ASSERT_TRUE(form);
  EXPECT_EQ(FormValue(*form, "username"), "al ice");
  EXPECT_EQ(FormValue(*form, "password"), "a+b c");
  EXPECT_EQ(FormValues(*form, "username"), (std::vector<std::string>{"al ice", "second"}));
  EXPECT_EQ(FormValue(*form, "missing"), "");
  std::string query = "next=/more";
  EXPECT_EQ(FormValue(*ParseForm(std::string_view(query).substr(0, 6)), "next"), "/") << "a view is read to its end only";
}

}  // namespace
}  // namespace ap::http
