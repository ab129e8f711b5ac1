#include "proxy/translate.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ap::proxy {
namespace {

namespace json = boost::json;

Status Check(std::string_view body) {
  ChatRequest request;
  return request.Read(body);
}

Result<ChatCall> Build(Provider p, std::string_view body, bool bound_tools = true) {
  ChatRequest request;
  if (auto read = request.Read(body); !read) return read.error();
  return BuildChatCall(p, request, std::string(body), bound_tools);
}

json::object Translate(Provider p, std::string_view body) {
  auto call = Build(p, body);
  EXPECT_TRUE(call) << call.error().message;
  return json::parse(call->upstream.body).as_object();
}

std::string MessageOf(const Result<ChatCall>& r) { return r ? "" : r.error().message; }

std::string FieldOf(const Status& r) {
  return !r && !r.error().field_errors.empty() ? r.error().field_errors[0].field : "";
}

constexpr std::string_view kChat = R"({"model":"m-1","messages":[
  {"role":"system","content":"Be brief."},
  {"role":"user","content":"Hi"},
  {"role":"assistant","content":[{"type":"text","text":"Hello"}]},
  {"role":"user","content":"Bye"}],
  "max_tokens":50,"temperature":0.2,"top_p":0.9,"stop":"END","user":"u1","seed":7})";

TEST(ChatRequest, ValidatesLikeTheReference) {
  EXPECT_EQ(Check("{").error().code, Errc::kBadRequest);
  EXPECT_EQ(Check("[]").error().code, Errc::kBadRequest);
  EXPECT_EQ(FieldOf(Check(R"({"messages":[{"role":"user","content":"x"}]})")), "model");
  EXPECT_EQ(FieldOf(Check(R"({"model":5,"messages":[{"role":"user","content":"x"}]})")), "model");
  EXPECT_EQ(FieldOf(Check(R"({"model":"m"})")), "messages");
  EXPECT_EQ(FieldOf(Check(R"({"model":"m","messages":[]})")), "messages");
  EXPECT_EQ(FieldOf(Check(R"({"model":"m","messages":[{"role":"king","content":"x"}]})")), "messages");
  EXPECT_EQ(FieldOf(Check(R"({"model":"m","messages":[{"role":"user"}]})")), "messages");
  EXPECT_EQ(FieldOf(Check(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})")), "stream");
}

TEST(ChatRequest, RefusesAMemberItReadsGivenTwice) {
  for (std::string_view body : {
           R"({"model":"a","model":"b","messages":[{"role":"user","content":"x"}]})",
           R"({"model":"a","messages":[],"messages":[{"role":"user","content":"x"}]})",
           R"({"model":"a","messages":[{"role":"user","content":"x"}],"stream":true,"stream":false})",
           R"({"model":"a","messages":[{"role":"system","role":"user","content":"x"}]})",
           R"({"model":"a","messages":[{"role":"user","content":"x","content":[]}]})",
           R"({"model":"a","mod\u0065l":"b","messages":[{"role":"user","content":"x"}]})",
       }) {
    auto read = Check(body);
    ASSERT_FALSE(read) << body;
    EXPECT_EQ(read.error().code, Errc::kBadRequest) << body;
    EXPECT_TRUE(read.error().message.ends_with("' is given twice")) << read.error().message;
  }
  // A member it does not read may repeat, as the provider reads it; a nested "model" is not the model.
  ChatRequest request;
  auto read = request.Read(
      R"({"model":"a","messages":[{"role":"user","content":"x","name":"p","name":"q"}],"metadata":{"model":"z"}})");
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(request.Model(), "a");
}

// The app's bytes, with the standard service tier a budget asks for (request_limits.hpp) added.
std::string WithStandardTier(std::string_view body) {
  return std::string(body.substr(0, body.rfind('}'))) + R"(,"service_tier":"default"})";
}

TEST(ChatTranslation, OpenAIGetsTheAppsBytesUnchanged) {
  auto call = Build(Provider::kOpenAI, kChat).value();
  EXPECT_EQ(call.upstream.path, "/v1/chat/completions");
  EXPECT_EQ(call.upstream.body, WithStandardTier(kChat));
  EXPECT_EQ(Build(Provider::kOpenAI, kChat, false)->upstream.body, kChat);
  EXPECT_EQ(call.asked.output_tokens, 50);
  EXPECT_TRUE(call.asked.writes_text);
}

TEST(ChatTranslation, ALimitGivenTwiceIsRefusedForEveryProvider) {
  // OpenAI reads the last max_tokens; a broker that read the first would reserve for 1 token.
  // The translations would carry the last one, but the body is refused alike, whatever the grant.
  for (Provider p : {Provider::kOpenAI, Provider::kAnthropic, Provider::kGoogle}) {
    std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1,"max_tokens":100000})";
    EXPECT_EQ(MessageOf(Build(p, body)), "'max_tokens' is given twice");
    body = R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":1,"n":128})";
    EXPECT_EQ(MessageOf(Build(p, body)), "'n' is given twice");
  }
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
  // A null max_tokens is no limit: the other field is the one that holds (it was sent as null, and
  // reserved as a call without a limit).
  out = Translate(
      Provider::kAnthropic,
      R"({"model":"c","max_tokens":null,"max_completion_tokens":200,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(out.at("max_tokens").as_int64(), 200);
  out =
      Translate(Provider::kAnthropic, R"({"model":"c","max_tokens":null,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(out.at("max_tokens").as_int64(), kDefaultAnthropicMaxTokens);
}

TEST(ChatTranslation, GeminiGetsContentsSystemInstructionAndGenerationConfig) {
  auto call = Build(Provider::kGoogle, kChat).value();
  EXPECT_EQ(call.upstream.path, "/v1beta/models/m-1:generateContent");
  EXPECT_EQ(call.asked.output_tokens, 50);
  auto out = json::parse(call.upstream.body).as_object();
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

TEST(ChatTranslation, OpenAIGetsTheBrokersBoundSplicedIntoTheAppsBytes) {
  std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"x"}], "tools":[{"type":"web_search_preview"}]})";
  auto call = Build(Provider::kOpenAI, body).value();
  EXPECT_TRUE(call.asked.body_changed);
  auto sent = json::parse(call.upstream.body).as_object();
  EXPECT_EQ(sent.at("max_tool_calls"), kDefaultToolUses);
  EXPECT_EQ(sent.at("service_tier"), "default");
  sent.erase("max_tool_calls");
  sent.erase("service_tier");
  EXPECT_EQ(sent, json::parse(body).as_object());
  // Without a budget, nothing is added: the app's bytes go as they came.
  EXPECT_EQ(Build(Provider::kOpenAI, body, false)->upstream.body, body);
}

TEST(ChatTranslation, AnthropicIsMeteredFromItsTranslation) {
  auto call = Build(Provider::kAnthropic, R"({"model":"c","messages":[{"role":"user","content":"x"}]})").value();
  EXPECT_EQ(call.asked.output_tokens, kDefaultAnthropicMaxTokens);
  // The app's limit, as Anthropic's max_tokens: refused as the native path refuses it.
  auto negative =
      Build(Provider::kAnthropic, R"({"model":"c","messages":[{"role":"user","content":"x"}],"max_tokens":-1})");
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().code, Errc::kBadRequest);
  EXPECT_NE(negative.error().message.find("max_tokens"), std::string::npos) << negative.error().message;
}

TEST(ChatTranslation, ANumberJsonCannotCarryIsRefusedBeforeTranslation) {
  // json::parse reads these as infinity and NaN; written again they would not be JSON.
  for (std::string_view number : {"1e999", "-1e999", "0e999", "0e000000000000000510"}) {
    std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":)" +
                       std::string(number) + R"(,"x":{"y":[1,)" + std::string(number) + "]}}";
    for (Provider p : {Provider::kAnthropic, Provider::kGoogle})
      EXPECT_EQ(MessageOf(Build(p, body)), "A number in the request body is out of range") << number;
    // OpenAI gets the app's bytes, which are JSON: it reads the number itself.
    auto openai = Build(Provider::kOpenAI, body);
    ASSERT_TRUE(openai) << number;
    EXPECT_EQ(openai->upstream.body, WithStandardTier(body));
  }
}

TEST(ChatTranslation, ASystemMessageWithPartsThatAreNotTextKeepsItsText) {
  // Parts that are not text objects (a bare string, another type, a number) are left out of the
  // joined system prompt; before, a bare string part threw, and the call failed with 500.
  std::string body = R"({"model":"m","messages":[{"role":"system","content":["bare",{"type":"image_url"},7,)"
                     R"({"type":"text","text":"Be brief."}]},{"role":"user","content":"Hi"}]})";
  auto anthropic = Translate(Provider::kAnthropic, body);
  EXPECT_EQ(anthropic.at("system"), "Be brief.");
  auto gemini = Build(Provider::kGoogle, body);
  ASSERT_TRUE(gemini) << gemini.error().message;
  EXPECT_EQ(json::parse(gemini->upstream.body).at("systemInstruction").at("parts").at(0).at("text"), "Be brief.");
}

TEST(ChatTranslation, GeminiRefusesModelsThatWouldChangeThePath) {
  for (const char* model : {"../admin", "m?x=1", "m/../../x", "m#f", ".."}) {
    std::string body = std::string(R"({"model":")") + model + R"(","messages":[{"role":"user","content":"x"}]})";
    EXPECT_EQ(MessageOf(Build(Provider::kGoogle, body)), "Validation failed") << model;
  }
  std::string body = R"({"model":"models/gemini-2.0-flash","messages":[{"role":"user","content":"x"}]})";
  EXPECT_EQ(Build(Provider::kGoogle, body)->upstream.path, "/v1beta/models/gemini-2.0-flash:generateContent");
}

// The name the grant's scope and prices see is the one the path holds: one "models/" goes, for Gemini only.
TEST(ChatTranslation, TheModelCalledIsTheOneInGeminisPath) {
  ChatRequest chat;
  ASSERT_TRUE(chat.Read(R"({"model":"models/gemini-2.0-flash","messages":[{"role":"user","content":"x"}]})"));
  EXPECT_EQ(chat.ModelCalled(Provider::kGoogle), "gemini-2.0-flash");
  EXPECT_EQ(chat.ModelCalled(Provider::kOpenAI), "models/gemini-2.0-flash");
  EXPECT_EQ(chat.ModelCalled(Provider::kAnthropic), "models/gemini-2.0-flash");
  ChatRequest twice;
  ASSERT_TRUE(twice.Read(R"({"model":"models/models/m","messages":[{"role":"user","content":"x"}]})"));
  EXPECT_EQ(twice.ModelCalled(Provider::kGoogle), "models/m");
  EXPECT_EQ(
      MessageOf(Build(Provider::kGoogle, R"({"model":"models/models/m","messages":[{"role":"user","content":"x"}]})")),
      "Validation failed");
}

}  // namespace
}  // namespace ap::proxy
