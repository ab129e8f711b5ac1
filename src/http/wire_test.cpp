// The head built by AppendHead is byte for byte what Beast's serializer writes.
#include "http/wire.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace ap::http {
namespace {

template <class Message>
std::string BeastWrites(const Message& message) {
  std::ostringstream out;
  out << message;
  return out.str();
}

template <class Message>
std::string WeWrite(const Message& message) {
  std::string out;
  AppendHead(message, out);
  return out + message.body();
}

TEST(WireTest, ResponsesAsBeastWritesThem) {
  Response ok(StatusCode::ok, 11);
  ok.set(bhttp::field::content_type, "application/json");
  ok.set(bhttp::field::server, "aipassport");
  ok.insert("X-Repeated", "one");
  ok.insert("X-Repeated", "two");
  ok.insert("x-lower-case-unknown", "");
  ok.body() = "{\"a\":1}";
  ok.prepare_payload();
  EXPECT_EQ(WeWrite(ok), BeastWrites(ok));
  EXPECT_TRUE(WeWrite(ok).starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")) << WeWrite(ok);

  Response reasoned(StatusCode::too_many_requests, 10);
  reasoned.reason("Slow Down");
  reasoned.keep_alive(false);
  EXPECT_EQ(WeWrite(reasoned), BeastWrites(reasoned));
  EXPECT_TRUE(WeWrite(reasoned).starts_with("HTTP/1.0 429 Slow Down\r\n"));

  Response unusual(StatusCode::ok, 11);
  unusual.result(299);  // a code without a usual reason
  unusual.set(bhttp::field::content_length, "0");
  EXPECT_EQ(WeWrite(unusual), BeastWrites(unusual));

  Response bare(StatusCode::no_content, 11);
  EXPECT_EQ(WeWrite(bare), "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(WeWrite(bare), BeastWrites(bare));
}

TEST(WireTest, RequestsAsBeastWritesThem) {
  Request post(Verb::post, "/v1/chat/completions?x=1", 11);
  post.set(bhttp::field::host, "api.openai.com");
  post.set(bhttp::field::authorization, "Bearer sk-test");
  post.body() = "{\"model\":\"gpt-4o-mini\"}";
  post.prepare_payload();
  EXPECT_EQ(WeWrite(post), BeastWrites(post));
  EXPECT_TRUE(WeWrite(post).starts_with("POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: api.openai.com\r\n"));

  Request custom;
  custom.method_string("PURGE");  // a method Beast has no verb for
  custom.target("/");
  custom.version(10);
  EXPECT_EQ(WeWrite(custom), BeastWrites(custom));
  EXPECT_EQ(WeWrite(custom), "PURGE / HTTP/1.0\r\n\r\n");
}

}  // namespace
}  // namespace ap::http
