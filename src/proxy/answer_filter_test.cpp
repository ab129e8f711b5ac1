#include "proxy/answer_filter.hpp"

#include <gtest/gtest.h>

namespace ap::proxy {
namespace {

constexpr std::string_view kKey = "sk-proj-Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789";

AnswerFilter Filter() {
  return AnswerFilter(std::make_shared<const KeySet>(std::vector<std::string>{std::string(kKey)}), "openai");
}

http::ResponseHead Head(unsigned status, std::string_view content_type) {
  http::ResponseHead head;
  head.result(status);
  if (!content_type.empty()) head.set(http::bhttp::field::content_type, content_type);
  return head;
}

TEST(AnswerFilter, TextIsReadWholeAndBinaryIsNot) {
  for (std::string_view type : {"", "application/json", "application/json; charset=utf-8", "text/plain", "Text/HTML",
                                "application/problem+json", "application/xml", "text/vtt"})
    EXPECT_TRUE(IsTextual(Head(200, type))) << type;
  for (std::string_view type : {"audio/mpeg", "image/png", "application/octet-stream", "text/event-stream"})
    EXPECT_FALSE(IsTextual(Head(200, type))) << type;
  EXPECT_TRUE(IsEventStream(Head(200, "text/event-stream; charset=utf-8")));
}

TEST(AnswerFilter, AWholeAnswerLosesTheKeyInItsBodyAndHeaders) {
  http::ResponseHead head = Head(400, "application/json");
  head.set("x-request-id", "req_" + std::string(kKey.substr(0, 12)));
  head.set("set-cookie", "not=passed");
  std::string body = R"({"error":{"message":"Incorrect API key provided: )" + std::string(kKey) + R"("}})";
  http::Response out = Filter().Whole(head, body);
  EXPECT_EQ(out.result_int(), 400u);
  EXPECT_EQ(out.body(), R"({"error":{"message":"Incorrect API key provided: [redacted]"}})");
  EXPECT_EQ(out["x-request-id"], "req_[redacted]");
  EXPECT_EQ(out.count("set-cookie"), 0u);
  EXPECT_EQ(out[http::bhttp::field::content_length], std::to_string(out.body().size()));
}

TEST(AnswerFilter, ABinaryBodyPassesAsItIs) {
  std::string audio = "ID3" + std::string(kKey);
  http::Response out = Filter().Whole(Head(200, "audio/mpeg"), audio);
  EXPECT_EQ(out.body(), audio);
}

TEST(AnswerFilter, EventsAreScrubbedOneByOne) {
  AnswerFilter filter = Filter();
  http::Response head = filter.StreamHead(Head(200, "text/event-stream"));
  EXPECT_EQ(head[http::bhttp::field::cache_control], "no-cache");
  std::string out;
  filter.AppendEvent("data: {\"delta\":\"hello\"}\n\n", out);
  filter.AppendEvent("data: {\"delta\":\"" + std::string(kKey.substr(10, 20)) + "\"}\n\n", out);
  EXPECT_EQ(out, "data: {\"delta\":\"hello\"}\n\ndata: {\"delta\":\"[redacted]\"}\n\n");
}

}  // namespace
}  // namespace ap::proxy
