#include "proxy/request_limits.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "proxy/usage.hpp"

namespace ap::proxy {
namespace {
namespace json = boost::json;

Result<RequestedUse> Read(Provider wire, std::string_view capability, std::string_view body_text) {
  json::object body = json::parse(body_text).as_object();
  return ReadRequestedUse(wire, capability, body, true);
}

TEST(RequestLimits, OutOfRangeCountsAreRefusedNotWrapped) {
  // The review's attack: an image count that wrapped the reservation negative.
  auto images = Read(Provider::kOpenAI, "images", R"({"model":"dall-e-2","n":872337203685477})");
  ASSERT_FALSE(images);
  EXPECT_EQ(images.error().code, Errc::kBadRequest);
  EXPECT_EQ(images.error().message, "'n' must be a whole number from 1 to 10");
  for (std::string_view body : {R"({"max_tokens":-5})", R"({"max_tokens":0})", R"({"max_tokens":1e300})",
                                R"({"max_tokens":2.5})", R"({"max_tokens":"100"})", R"({"n":129})",
                                R"({"max_tokens":100,"n":-1})", R"({"max_completion_tokens":18446744073709551615})"})
    EXPECT_FALSE(Read(Provider::kOpenAI, "chat", body)) << body;
  EXPECT_FALSE(Read(Provider::kAnthropic, "chat", R"({"max_tokens":1000000001})"));
}

TEST(RequestLimits, EveryAnswerMayWriteTheLargestLimitNamed) {
  auto openai = Read(Provider::kOpenAI, "chat", R"({"max_tokens":1000,"max_completion_tokens":60000,"n":128})");
  ASSERT_TRUE(openai);
  EXPECT_EQ(openai->output_tokens, 60000);
  EXPECT_EQ(openai->answers, 128);
  auto gemini = Read(Provider::kGoogle, "chat", R"({"generationConfig":{"maxOutputTokens":"300","candidateCount":8}})");
  ASSERT_TRUE(gemini);
  EXPECT_EQ(gemini->output_tokens, 300);  // proto3 JSON takes a number as a string
  EXPECT_EQ(gemini->answers, 8);
  auto proto_names = Read(Provider::kGoogle, "chat", R"({"generation_config":{"max_output_tokens":7}})");
  ASSERT_TRUE(proto_names);
  EXPECT_EQ(proto_names->output_tokens, 7);
}

TEST(RequestLimits, InputTheBodyDoesNotHoldIsNamed) {
  EXPECT_EQ(Read(Provider::kOpenAI, "chat", R"({"previous_response_id":"resp_1"})")->unbounded_input,
            "previous_response_id");
  EXPECT_EQ(Read(Provider::kGoogle, "chat", R"({"cached_content":"cachedContents/1"})")->unbounded_input,
            "cachedContent");
  EXPECT_EQ(Read(Provider::kOpenAI, "chat", R"({"input":"hi"})")->unbounded_input, std::nullopt);
}

TEST(RequestLimits, TwoSpellingsOfOneGeminiFieldAreRefused) {
  EXPECT_FALSE(
      Read(Provider::kGoogle, "chat", R"({"generationConfig":{"maxOutputTokens":1,"max_output_tokens":60000}})"));
  EXPECT_FALSE(Read(Provider::kGoogle, "chat", R"({"generationConfig":{"maxOutputTokens":1},"generation_config":{}})"));
  EXPECT_FALSE(Read(Provider::kGoogle, "chat", R"({"generationConfig":{"candidateCount":1,"candidate_count":8}})"));
}

TEST(RequestLimits, PaidServerToolsAreReservedAndBoundedWhereTheProviderTakesABound) {
  json::object anthropic = json::parse(R"({"max_tokens":10,"tools":[{"type":"web_search_20250305","name":"web_search"},
      {"type":"web_fetch_20250910","name":"web_fetch"},{"name":"lookup","input_schema":{}},
      {"type":"code_execution_20250825","name":"code_execution"},{"type":"web_search_20250305","max_uses":9}]})")
                               .as_object();
  auto read = ReadRequestedUse(Provider::kAnthropic, "chat", anthropic, true);
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->body_changed);
  EXPECT_EQ(anthropic.at("tools").at(0).at("max_uses"), kDefaultToolUses);     // the provider now stops there
  EXPECT_FALSE(anthropic.at("tools").at(3).as_object().contains("max_uses"));  // code execution takes no max_uses
  using Uses = std::vector<std::pair<std::string, int64_t>>;
  EXPECT_EQ(read->tools,
            (Uses{{"web_search", kDefaultToolUses}, {"code_execution", kDefaultToolUses}, {"web_search", 9}}));

  json::object openai = json::parse(R"({"tools":[{"type":"web_search_preview"},{"type":"function","name":"f"},
      {"type":"file_search"}],"max_tool_calls":3})")
                            .as_object();
  read = ReadRequestedUse(Provider::kOpenAI, "chat", openai, true);
  ASSERT_TRUE(read);
  EXPECT_FALSE(read->body_changed);
  EXPECT_EQ(read->tools, (Uses{{"web_search_preview", 3}, {"file_search", 3}}));
  json::object unbounded = json::parse(R"({"tools":[{"type":"web_search"}]})").as_object();
  read = ReadRequestedUse(Provider::kOpenAI, "chat", unbounded, true);
  ASSERT_TRUE(read);
  EXPECT_EQ(unbounded.at("max_tool_calls"), kDefaultToolUses);
  // Without a budget there is nothing to bound: the app's request goes as it is.
  json::object unbudgeted = json::parse(R"({"tools":[{"type":"web_search"}]})").as_object();
  read = ReadRequestedUse(Provider::kOpenAI, "chat", unbudgeted, false);
  ASSERT_TRUE(read);
  EXPECT_FALSE(read->body_changed);
  EXPECT_FALSE(unbudgeted.contains("max_tool_calls"));
  json::object anthropic_unbudgeted = json::parse(R"({"tools":[{"type":"web_search_20250305"}]})").as_object();
  read = ReadRequestedUse(Provider::kAnthropic, "chat", anthropic_unbudgeted, false);
  ASSERT_TRUE(read);
  EXPECT_FALSE(anthropic_unbudgeted.at("tools").at(0).as_object().contains("max_uses"));

  auto gemini = Read(
      Provider::kGoogle, "chat",
      R"({"generationConfig":{"candidateCount":2},"tools":[{"googleSearch":{}},{"code_execution":{}},{"googleMaps":{}}]})");
  ASSERT_TRUE(gemini);
  EXPECT_EQ(gemini->tools, (Uses{{"google_search", 2 * kDefaultToolUses}, {"google_maps", 2 * kDefaultToolUses}}));
  EXPECT_FALSE(Read(Provider::kOpenAI, "chat", R"({"tools":[{"type":"web_search"}],"max_tool_calls":1000})"));
}

TEST(RequestLimits, ABoundAddedToATrueToolKeepsItsNameRead) {
  // A type short enough to live inside its value moves when max_uses is added to the tool (a full
  // object grows): its name must be read before. The sanitizer build sees a name read after.
  for (std::string_view type : {"web_search_1", "web_search_", "web_search_20250305"}) {
    std::string body = R"({"model":"c","max_tokens":10,"tools":[{"type":")" + std::string(type) + R"("}]})";
    json::object o = json::parse(body).as_object();
    auto read = ReadRequestedUse(Provider::kAnthropic, "chat", o, true);
    ASSERT_TRUE(read) << type;
    ASSERT_EQ(read->tools.size(), 1u) << type;
    EXPECT_EQ(read->tools[0].first, "web_search") << type;
    EXPECT_EQ(read->tools[0].second, kDefaultToolUses) << type;
    EXPECT_EQ(o.at("tools").at(0).at("max_uses"), kDefaultToolUses) << type;
  }
}

TEST(Usage, FiguresNoCallCanHaveMarkTheUsageImplausible) {
  for (std::string_view answer :
       {R"({"usage":{"prompt_tokens":-900000,"completion_tokens":5}})",
        R"({"usage":{"input_tokens":10,"output_tokens":1000000001}})", R"({"usage":{"output_tokens":1e300}})",
        R"({"usageMetadata":{"promptTokenCount":2.5}})", R"({"usage":{"type":"duration","seconds":-3}})"}) {
    Usage usage;
    MergeUsageFromJson(answer, usage);
    EXPECT_TRUE(usage.implausible) << answer;
  }
  Usage fine;
  MergeUsageFromJson(R"({"usage":{"prompt_tokens":9,"completion_tokens":5}})", fine);
  EXPECT_FALSE(fine.implausible);
  EXPECT_EQ(fine.input_tokens, 9);
}

TEST(Usage, ServerToolUsesAreCountedAsEachProviderReportsThem) {
  Usage anthropic;
  MergeUsageFromJson(
      R"({"type":"message_delta","usage":{"output_tokens":5,"server_tool_use":{"web_search_requests":3}}})", anthropic);
  EXPECT_EQ(anthropic.ToolUses("web_search"), 3);
  Usage openai;
  MergeUsageFromJson(R"({"type":"response.completed","response":{"output":[{"type":"web_search_call"},
      {"type":"message"},{"type":"web_search_call"},{"type":"file_search_call"}],"usage":{"input_tokens":1}}})",
                     openai);
  EXPECT_EQ(openai.ToolUses("web_search"), 2);
  EXPECT_EQ(openai.ToolUses("file_search"), 1);
  Usage gemini;  // a stream repeats candidate 0's metadata as it grows; candidate 1 searched without a query
  MergeUsageFromJson(R"({"candidates":[{"index":0,"groundingMetadata":{"webSearchQueries":["a"]}}]})", gemini);
  MergeUsageFromJson(R"({"candidates":[{"index":0,"groundingMetadata":{"webSearchQueries":["a","b",""]}},
      {"index":1,"groundingMetadata":{}}]})",
                     gemini);
  EXPECT_EQ(gemini.ToolUses("google_search"), 3);
}

}  // namespace
}  // namespace ap::proxy
