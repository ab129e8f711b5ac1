// Heads kept as bytes: fields go in as lines, and nothing a value holds can end its line.
#include "http/head_bytes.hpp"

#include <gtest/gtest.h>

namespace ap::http {
namespace {

TEST(FieldLines, FieldsGoInAsLinesInTheOrderAdded) {
  FieldLines head;
  EXPECT_TRUE(head.Add("content-type", "application/json"));
  EXPECT_TRUE(head.Add("x-request-id", "req_1"));
  EXPECT_TRUE(head.Add("x-empty", ""));
  EXPECT_EQ(head.fields, "content-type: application/json\r\nx-request-id: req_1\r\nx-empty: \r\n");
}

TEST(FieldLines, AValueThatCouldEndItsLineIsLeftOut) {
  FieldLines head;
  EXPECT_FALSE(head.Add("x-a", "one\r\nSet-Cookie: stolen=1"));
  EXPECT_FALSE(head.Add("x-a", "one\nSet-Cookie: stolen=1"));
  EXPECT_FALSE(head.Add("x-a", "one\r"));
  EXPECT_FALSE(head.Add("x-a", std::string_view("\0\n", 2)));
  EXPECT_EQ(head.fields, "");
  EXPECT_TRUE(head.Add("x-a", "one: two"));
  EXPECT_EQ(head.fields, "x-a: one: two\r\n");
}

TEST(FieldLines, HasFindsANameWithoutRegardToCase) {
  FieldLines head;
  head.Add("Content-Type", "text/plain");
  head.Add("X-Request-Id", "req_1");
  EXPECT_TRUE(head.Has("x-request-id"));
  EXPECT_TRUE(head.Has("content-type"));
  EXPECT_FALSE(head.Has("request-id")) << "a name is matched whole, not by its end";
  EXPECT_FALSE(head.Has("x-request"));
  EXPECT_FALSE(FieldLines{}.Has("x-request-id"));
}

}  // namespace
}  // namespace ap::http
