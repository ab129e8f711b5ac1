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

// Any coding but identity, in any of the fields, in a list, in any case, is a coded body.
TEST(AnswerFilter, ABodyIsCodedByAnyCodingButIdentityInAnyContentEncoding) {
  auto coded = [](std::initializer_list<std::string_view> values) {
    http::ResponseHead head = Head(200, "application/json");
    for (std::string_view value : values) head.insert("Content-Encoding", value);
    return IsCoded(head);
  };
  EXPECT_FALSE(coded({}));
  EXPECT_FALSE(coded({"identity"}));
  EXPECT_FALSE(coded({" IDENTITY , identity", ""}));
  EXPECT_TRUE(coded({"gzip"}));
  EXPECT_TRUE(coded({"identity, br"}));
  EXPECT_TRUE(coded({"identity", "x-gzip"}));
  EXPECT_TRUE(coded({"identity;q=1"}));  // no parameters in a coding: not identity
  http::ResponseHead identity = Head(200, "application/json");
  identity.insert("Content-Encoding", "identity");  // read, never passed on
  EXPECT_EQ(Filter().Whole(identity, "{}").count(http::bhttp::field::content_encoding), 0u);
}

// Only the passed headers reach the app, whatever their case, the first of each when the provider
// sent one twice, an empty one too.
TEST(AnswerFilter, PassesTheFirstOfEachPassedHeaderAndNothingElse) {
  http::ResponseHead head;
  head.result(429);
  head.insert("Content-Type", "application/json");
  head.insert("RETRY-AFTER", "7");
  head.insert("retry-after", "99");
  head.insert("Request-Id", "");
  head.insert("X-Request-ID", "req_1");
  head.insert("x-request-id", "req_2");
  head.insert("Set-Cookie", "a=b");
  head.insert("x-ratelimit-remaining-requests", "0");
  head.insert("openai-organization", "org-provider");
  http::Response out = Filter().Whole(head, "{}");
  EXPECT_EQ(out[http::bhttp::field::content_type], "application/json");
  EXPECT_EQ(out.count(http::bhttp::field::retry_after), 1u);
  EXPECT_EQ(out[http::bhttp::field::retry_after], "7");
  EXPECT_EQ(out.count("request-id"), 1u);
  EXPECT_EQ(out["request-id"], "");
  EXPECT_EQ(out.count("x-request-id"), 1u);
  EXPECT_EQ(out["x-request-id"], "req_1");
  for (std::string_view dropped : {"set-cookie", "x-ratelimit-remaining-requests", "openai-organization"})
    EXPECT_EQ(out.count(dropped), 0u) << dropped;
}

TEST(AnswerFilter, AWholeAnswerLosesTheKeyInItsBodyAndHeaders) {
  http::ResponseHead head = Head(400, "application/json");
  head.set("x-request-id", "req_" + std::string(kKey.substr(0, 20)));
  head.set("set-cookie", "not=passed");
  std::string body = R"({"error":{"message":"Incorrect API key provided: )" + std::string(kKey) + R"("}})";
  http::Response out = Filter().Whole(head, body);
  EXPECT_EQ(out.result_int(), 400u);
  EXPECT_EQ(out.body(), R"({"error":{"message":"Incorrect API key provided: sk-proj-[redacted]"}})");
  EXPECT_EQ(out["x-request-id"], "req_sk-proj-[redacted]");
  EXPECT_EQ(out.count("set-cookie"), 0u);
  EXPECT_EQ(out[http::bhttp::field::content_length], std::to_string(out.body().size()));
}

// The same answer as bytes (what the relay sends for the native paths): the same fields, in the
// order the provider sent them, the key out of the body and the headers.
TEST(AnswerFilter, AWholeAnswersHeadAsBytesPassesTheSameFieldsScrubbed) {
  http::ResponseHead head = Head(201, "application/json");
  head.insert("Set-Cookie", "not=passed");
  head.insert("X-Request-ID", "req_" + std::string(kKey.substr(0, 20)));
  head.insert("x-request-id", "req_second");
  head.insert("Retry-After", "7");
  std::string body = R"({"echo":")" + std::string(kKey) + R"("})";
  http::AnswerHead out = Filter().WholeHead(head, body);
  EXPECT_EQ(out.status, 201u);
  EXPECT_EQ(out.fields, "content-type: application/json\r\nx-request-id: req_sk-proj-[redacted]\r\nretry-after: 7\r\n");
  EXPECT_EQ(body, R"({"echo":"sk-proj-[redacted]"})");
  std::string audio = "ID3" + std::string(kKey);
  Filter().WholeHead(Head(200, "audio/mpeg"), audio);
  EXPECT_EQ(audio, "ID3" + std::string(kKey)) << "a binary body passes as it is";
}

// A refusal with a code Beast has no name for (499, 420) keeps it, whole or as bytes.
TEST(AnswerFilter, AnUnnamedStatusKeepsItsCode) {
  EXPECT_EQ(Filter().Whole(Head(499, "application/json"), "{}").result_int(), 499u);
  std::string body = "{}";
  EXPECT_EQ(Filter().WholeHead(Head(420, "application/json"), body).status, 420u);
}

TEST(AnswerFilter, ABinaryBodyPassesAsItIs) {
  std::string audio = "ID3" + std::string(kKey);
  http::Response out = Filter().Whole(Head(200, "audio/mpeg"), audio);
  EXPECT_EQ(out.body(), audio);
}

TEST(AnswerFilter, EventsAreScrubbedOneByOne) {
  AnswerFilter filter = Filter();
  http::ResponseHead provider = Head(200, "text/event-stream");
  provider.insert("Retry-After", "7");  // means nothing once a stream has started
  provider.insert("x-request-id", "req_" + std::string(kKey.substr(0, 20)));
  http::AnswerHead head = filter.StreamHead(provider);
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.fields,
            "content-type: text/event-stream\r\nx-request-id: req_sk-proj-[redacted]\r\nCache-Control: no-cache\r\n");
  std::string out;
  filter.AppendEvent("data: {\"delta\":\"hello\"}\n\n", out);
  filter.AppendEvent("data: {\"delta\":\"" + std::string(kKey.substr(10, 20)) + "\"}\n\n", out);
  EXPECT_EQ(out, "data: {\"delta\":\"hello\"}\n\ndata: {\"delta\":\"[redacted]\"}\n\n");
}

}  // namespace
}  // namespace ap::proxy
