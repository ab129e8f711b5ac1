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

TEST(CookiesTest, ACookieThatComesTwiceWithTwoValuesIsNone) {
  Request planted;  // another site on the host set its own for one path: the browser sends it first
  planted.insert(bhttp::field::cookie, "session=theirs; theme=dark; session=mine");
  EXPECT_FALSE(CookieValue(planted, "session"));
  EXPECT_TRUE(CookieConflicts(planted, "session"));
  EXPECT_EQ(CookieValue(planted, "theme"), "dark");
  EXPECT_FALSE(CookieConflicts(planted, "theme"));
  Request across;
  across.insert(bhttp::field::cookie, "session=theirs");
  across.insert(bhttp::field::cookie, "session=mine");
  EXPECT_FALSE(CookieValue(across, "session"));
  Request apart;  // Beast keeps fields of one name together, whatever came between them
  apart.insert(bhttp::field::cookie, "session=theirs");
  apart.insert(bhttp::field::user_agent, "x");
  apart.insert(bhttp::field::cookie, "session=mine");
  EXPECT_TRUE(CookieConflicts(apart, "session"));
  Request same;
  same.insert(bhttp::field::cookie, "session=mine; session=mine");
  EXPECT_EQ(CookieValue(same, "session"), "mine");
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

TEST(CookiesTest, AFormOfTooManyFieldsIsRefused) {
  EXPECT_FALSE(ParseForm(std::string(1 << 20, '&'))) << "a million empty fields";
  std::string most = "a=1";
  for (size_t i = 1; i < kMaxFormFields; ++i) most += "&a=1";
  ASSERT_TRUE(ParseForm(most));
  EXPECT_EQ(ParseForm(most)->size(), kMaxFormFields);
  EXPECT_FALSE(ParseForm(most + "&a=1"));
}

}  // namespace
}  // namespace ap::http
