#include "proxy/translate.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ap::proxy {
namespace {

namespace json = boost::json;

json::object Translate(Provider p, std::string_view body) {
  auto req = ParseChatRequest(body);
  EXPECT_TRUE(req) << req.error().message;
  auto call = BuildChatCall(p, *req, body);
  EXPECT_TRUE(call) << call.error().message;
  return json::parse(std::move(*call).ToSend(false).body).as_object();
}

std::string FieldOf(const Result<ChatRequest>& r) {
  return !r && !r.error().field_errors.empty() ? r.error().field_errors[0].field : "";
}

constexpr std::string_view kChat = R"({"model":"m-1","messages":[
  {"role":"system","content":"Be brief."},
  {"role":"user","content":"Hi"},
  {"role":"assistant","content":[{"type":"text","text":"Hello"}]},
  {"role":"user","content":"Bye"}],
  "max_tokens":50,"temperature":0.2,"top_p":0.9,"stop":"END","user":"u1","seed":7})";

TEST(ChatRequest, ValidatesLikeTheReference) {
  EXPECT_EQ(ParseChatRequest("{").error().code, Errc::kBadRequest);
  EXPECT_EQ(ParseChatRequest("[]").error().code, Errc::kBadRequest);
  EXPECT_EQ(FieldOf(ParseChatRequest(R"({"messages":[{"role":"user","content":"x"}]})")), "model");
  EXPECT_EQ(FieldOf(ParseChatRequest(R"({"model":5,"messages":[{"role":"user","content":"x"}]})")), "model");
  EXPECT_EQ(FieldOf(ParseChatRequest(R"({"model":"m"})")), "messages");
  EXPECT_EQ(FieldOf(ParseChatRequest(R"({"model":"m","messages":[]})")), "messages");
  EXPECT_EQ(FieldOf(ParseChatRequest(R"({"model":"m","messages":[{"role":"king","content":"x"}]})")), "messages");
  EXPECT_EQ(FieldOf(ParseChatRequest(R"({"model":"m","messages":[{"role":"user"}]})")), "messages");
  EXPECT_EQ(FieldOf(ParseChatRequest(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})")),
            "stream");
}

TEST(ChatTranslation, OpenAIGetsTheAppsBytesUnchanged) {
  auto req = ParseChatRequest(kChat).value();
  auto call = BuildChatCall(Provider::kOpenAI, req, kChat).value();
  EXPECT_EQ(call.body, json::parse(kChat).as_object());
  UpstreamCall sent = std::move(call).ToSend(false);
  EXPECT_EQ(sent.path, "/v1/chat/completions");
  EXPECT_EQ(sent.body, kChat);
}

TEST(ChatTranslation, AnthropicGetsSystemMaxTokensAndStopSequences) {
  auto out = Translate(Provider::kAnthropic, kChat);
  EXPECT_EQ(out.at("model").as_string(), "m-1");
  EXPECT_EQ(out.at("system").as_string(), "Be brief.");
  EXPECT_EQ(out.at("max_tokens").as_int64(), 50);
  EXPECT_EQ(out.at("stop_sequences"), (json::array{"END"}));
  EXPECT_EQ(out.at("metadata").at("user_id").as_string(), "u1");
  EXPECT_EQ(out.at("temperature").as_double(), 0.2);
  EXPECT_EQ(out.at("seed").as_int64(), 7);  // no equivalent: passed on for Anthropic to judge
  const auto& messages = out.at("messages").as_array();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].at("role").as_string(), "user");
  EXPECT_EQ(messages[0].at("content").as_string(), "Hi");
  EXPECT_EQ(messages[1].at("content").at(0).at("type").as_string(), "text");
  EXPECT_FALSE(out.contains("stop"));
  EXPECT_FALSE(out.contains("user"));
}

TEST(ChatTranslation, AnthropicDefaultsMaxTokensInsteadOfForcingIt) {
  auto out = Translate(Provider::kAnthropic, R"({"model":"c","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(out.at("max_tokens").as_int64(), kDefaultAnthropicMaxTokens);
  out =
      Translate(Provider::kAnthropic, R"({"model":"c","max_tokens":20000,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(out.at("max_tokens").as_int64(), 20000);
}

TEST(ChatTranslation, GeminiGetsContentsSystemInstructionAndGenerationConfig) {
  auto req = ParseChatRequest(kChat).value();
  auto call = BuildChatCall(Provider::kGoogle, req, kChat).value();
  EXPECT_EQ(call.path, "/v1beta/models/m-1:generateContent");
  auto out = json::parse(std::move(call).ToSend(false).body).as_object();
  EXPECT_FALSE(out.contains("model"));
  EXPECT_EQ(out.at("systemInstruction").at("parts").at(0).at("text").as_string(), "Be brief.");
  const auto& contents = out.at("contents").as_array();
  ASSERT_EQ(contents.size(), 3u);
  EXPECT_EQ(contents[0].at("role").as_string(), "user");
  EXPECT_EQ(contents[0].at("parts").at(0).at("text").as_string(), "Hi");
  EXPECT_EQ(contents[1].at("role").as_string(), "model");
  EXPECT_EQ(contents[1].at("parts").at(0).at("text").as_string(), "Hello");
  const auto& config = out.at("generationConfig").as_object();
  EXPECT_EQ(config.at("maxOutputTokens").as_int64(), 50);
  EXPECT_EQ(config.at("topP").as_double(), 0.9);
  EXPECT_EQ(config.at("seed").as_int64(), 7);
  EXPECT_EQ(config.at("stopSequences"), (json::array{"END"}));
}

TEST(ChatTranslation, OpenAIGetsTheBrokersBytesOnlyWhenTheBrokerAddedToThem) {
  auto call = BuildChatCall(Provider::kOpenAI, ParseChatRequest(kChat).value(), kChat).value();
  call.body["max_tool_calls"] = 5;
  auto sent = json::parse(std::move(call).ToSend(true).body).as_object();
  EXPECT_EQ(sent.at("max_tool_calls"), 5);
}

TEST(ChatTranslation, GeminiRefusesModelsThatWouldChangeThePath) {
  for (const char* model : {"../admin", "m?x=1", "m/../../x", "m#f", ".."}) {
    std::string body = std::string(R"({"model":")") + model + R"(","messages":[{"role":"user","content":"x"}]})";
    auto req = ParseChatRequest(body).value();
    EXPECT_FALSE(BuildChatCall(Provider::kGoogle, req, body)) << model;
  }
  std::string body = R"({"model":"models/gemini-2.0-flash","messages":[{"role":"user","content":"x"}]})";
  EXPECT_EQ(BuildChatCall(Provider::kGoogle, ParseChatRequest(body).value(), body)->path,
            "/v1beta/models/gemini-2.0-flash:generateContent");
}

}  // namespace
}  // namespace ap::proxy
