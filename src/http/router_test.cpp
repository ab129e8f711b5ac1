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

TEST(Router, TheRouteAddedFirstWinsWhetherItsFirstSegmentIsLiteralOrAParameter) {
  Router r;
  r.Add(Verb::get, "/:kind/list", Noop());
  r.Add(Verb::get, "/grants/list", Noop());
  r.Add(Verb::get, "/grants/:id", Noop());
  r.Add(Verb::get, "/:kind/:id", Noop());
  EXPECT_EQ(r.Find(Verb::get, "/grants/list").pattern, "/:kind/list");
  EXPECT_EQ(r.Find(Verb::get, "/keys/list").params.Get("kind"), "keys");
  EXPECT_EQ(r.Find(Verb::get, "/grants/g1").pattern, "/grants/:id");
  auto other = r.Find(Verb::get, "/keys/k1");
  EXPECT_EQ(other.pattern, "/:kind/:id");
  EXPECT_EQ(other.params.Get("kind"), "keys");
  EXPECT_EQ(other.params.Get("id"), "k1");
}

TEST(Router, AllowListsMethodsFromEveryMatchingRoute) {
  Router r;
  r.Add(Verb::post, "/:kind", Noop());
  r.Add(Verb::delete_, "/grants", Noop());
  r.Add(Verb::post, "/grants", Noop());
  auto wrong = r.Find(Verb::get, "/grants");
  EXPECT_EQ(wrong.handler, nullptr);
  EXPECT_EQ(wrong.allowed, (std::vector<Verb>{Verb::post, Verb::delete_}));
  EXPECT_EQ(r.Find(Verb::post, "/grants").pattern, "/:kind");
}

TEST(Router, PathsLongerThanAnyPatternMatchNothing) {
  Router r;
  r.Add(Verb::get, "/:a", Noop());
  std::string path;
  for (size_t i = 0; i < Router::kMaxSegments + 1; ++i) path += "/x";
  EXPECT_EQ(r.Find(Verb::get, path).handler, nullptr);
  EXPECT_TRUE(r.Find(Verb::get, path).allowed.empty());
  EXPECT_NE(r.Find(Verb::get, "/x").handler, nullptr);
  EXPECT_THROW(r.Add(Verb::get, path, Noop()), std::invalid_argument);
  EXPECT_EQ(r.Find(Verb::get, "").handler, nullptr);  // one empty segment: no parameter is empty
  r.Add(Verb::get, "/", Noop());
  EXPECT_EQ(r.Find(Verb::get, "/").pattern, "/");
  EXPECT_EQ(r.Find(Verb::get, "").pattern, "/");
}

TEST(RouterTest, StreamedRoutesUnderAParameterAreFound) {
  Router r;
  r.Add(Verb::post, "/:bucket/upload", Noop(), Body::kStreamed);
  r.Add(Verb::post, "/files/upload", Noop());
  EXPECT_TRUE(r.StreamsBody(Verb::post, "/files/upload"));
  EXPECT_TRUE(r.StreamsBody(Verb::post, "/b/upload"));
  EXPECT_FALSE(r.StreamsBody(Verb::post, "/b/download"));
}

// The route Find picks decides: one added before a streamed route that also matches keeps its
// body whole; a route of another method does not count.
TEST(RouterTest, AWholeRouteAddedFirstKeepsItsBodyWhole) {
  Router r;
  r.Add(Verb::get, "/files/upload", Noop());
  r.Add(Verb::post, "/files/upload", Noop());
  r.Add(Verb::post, "/:bucket/upload", Noop(), Body::kStreamed);
  EXPECT_FALSE(r.StreamsBody(Verb::post, "/files/upload"));
  EXPECT_EQ(r.Find(Verb::post, "/files/upload").pattern, "/files/upload");
  EXPECT_TRUE(r.StreamsBody(Verb::post, "/b/upload"));
  EXPECT_EQ(r.Find(Verb::post, "/b/upload").pattern, "/:bucket/upload");
}

}  // namespace
}  // namespace ap::http
