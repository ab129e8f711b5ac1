#include "http/router.hpp"

#include <gtest/gtest.h>

namespace ap::http {
namespace {

RouteHandler Noop() {
  return [](Request&, const PathParams&, Exchange&) -> boost::asio::awaitable<Response> { co_return Response{}; };
}

TEST(Router, MatchesLiteralsAndParameters) {
  Router r;
  r.Add(Verb::get, "/grants", Noop());
  r.Add(Verb::get, "/grants/:id", Noop());
  r.Add(Verb::post, "/grants/:id/approve", Noop());
  auto m = r.Find(Verb::post, "/grants/abc/approve");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params.Get("id"), "abc");
  EXPECT_NE(r.Find(Verb::get, "/grants").handler, nullptr);
  EXPECT_EQ(r.Find(Verb::get, "/grants/x").params.Get("id"), "x");
  EXPECT_EQ(r.Find(Verb::get, "/grants/x").pattern, "/grants/:id");
}

TEST(Router, TellsNotFoundFromWrongMethod) {
  Router r;
  r.Add(Verb::get, "/grants/:id", Noop());
  r.Add(Verb::post, "/grants/:id/approve", Noop());
  auto wrong = r.Find(Verb::delete_, "/grants/abc");
  EXPECT_EQ(wrong.handler, nullptr);
  ASSERT_EQ(wrong.allowed.size(), 1u);
  EXPECT_EQ(wrong.allowed[0], Verb::get);
  auto missing = r.Find(Verb::get, "/nothing/here");
  EXPECT_EQ(missing.handler, nullptr);
  EXPECT_TRUE(missing.allowed.empty());
  EXPECT_EQ(r.Find(Verb::get, "/grants/").handler, nullptr);  // empty parameter
  EXPECT_EQ(r.Find(Verb::get, "/grants/a/b").handler, nullptr);
}

TEST(Router, WrapReplacesOnlyTheNamedRoute) {
  Router r;
  r.Add(Verb::get, "/grants/:id", Noop());
  r.Add(Verb::patch, "/grants/:id", Noop());
  int wrapped = 0;
  auto count = [&wrapped](RouteHandler inner) {
    ++wrapped;
    return inner;
  };
  EXPECT_TRUE(r.Wrap(Verb::get, "/grants/:id", count));
  EXPECT_EQ(wrapped, 1);
  EXPECT_FALSE(r.Wrap(Verb::get, "/grants/:id/usage", count));
  EXPECT_FALSE(r.Wrap(Verb::post, "/grants/:id", count));
  EXPECT_EQ(wrapped, 1);
}

TEST(Router, PathOfDropsTheQuery) {
  EXPECT_EQ(PathOf("/a/b?x=1"), "/a/b");
  EXPECT_EQ(PathOf("/a"), "/a");
}

TEST(RouterTest, KnowsWhichRoutesStreamTheirBody) {
  Router r;
  r.Add(Verb::post, "/openai/v1/chat/completions", Noop());
  r.Add(Verb::post, "/openai/v1/audio/transcriptions", Noop(), Body::kStreamed);
  r.Add(Verb::post, "/files/:id/content", Noop(), Body::kStreamed);
  EXPECT_TRUE(r.StreamsBody(Verb::post, "/openai/v1/audio/transcriptions"));
  EXPECT_TRUE(r.StreamsBody(Verb::post, "/files/f1/content"));
  EXPECT_FALSE(r.StreamsBody(Verb::get, "/openai/v1/audio/transcriptions"));
  EXPECT_FALSE(r.StreamsBody(Verb::post, "/openai/v1/chat/completions"));
  EXPECT_FALSE(r.StreamsBody(Verb::post, "/files//content"));
}

}  // namespace
}  // namespace ap::http
