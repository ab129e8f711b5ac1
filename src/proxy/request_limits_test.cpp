#include "proxy/request_limits.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "proxy/endpoints.hpp"
#include "proxy/json_call.hpp"
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

// Anthropic adds its tool-use system prompt, and the definitions of the tools it defines, to the
// input the body holds.
TEST(RequestLimits, AnthropicsOwnToolPromptsAreInputBeyondTheBody) {
  auto defined = Read(Provider::kAnthropic, "chat", R"({"max_tokens":5,"tools":[{"type":"computer_20250124"},
      {"type":"bash_20250124","name":"bash"},{"name":"f","input_schema":{}}]})");
  ASSERT_TRUE(defined);
  EXPECT_EQ(defined->hidden_input_tokens, 500 + 2 * 1500);
  auto custom = Read(Provider::kAnthropic, "chat", R"({"max_tokens":5,"tools":[{"type":"custom","name":"f"}]})");
  ASSERT_TRUE(custom);
  EXPECT_EQ(custom->hidden_input_tokens, 500);
  for (std::string_view none : {R"({"max_tokens":5})", R"({"max_tokens":5,"tools":[]})"})
    EXPECT_EQ(Read(Provider::kAnthropic, "chat", none)->hidden_input_tokens, 0) << none;
}

// Claude 4 streams a summary of its extended thinking and bills all of it.
TEST(RequestLimits, AnthropicsThinkingIsReasoningAStreamDoesNotShow) {
  for (std::string_view thinking : {R"({"type":"enabled","budget_tokens":2000})", R"({"type":"adaptive"})"})
    EXPECT_TRUE(Read(Provider::kAnthropic, "chat",
                     std::string(R"({"max_tokens":5000,"thinking":)") + std::string(thinking) + "}")
                    ->reasons_unseen)
        << thinking;
  EXPECT_FALSE(
      Read(Provider::kAnthropic, "chat", R"({"max_tokens":5,"thinking":{"type":"disabled"}})")->reasons_unseen);
  EXPECT_FALSE(Read(Provider::kAnthropic, "chat", R"({"max_tokens":5})")->reasons_unseen);
}

// Gemini streams nothing while it thinks, on a model that thinks by default (in the table) or one
// asked to, under either of the field's names.
TEST(RequestLimits, GeminisThinkingConfigIsReasoningAStreamDoesNotShow) {
  for (std::string_view body : {R"({"generationConfig":{"thinkingConfig":{"thinkingBudget":24576}}})",
                                R"({"generation_config":{"thinking_config":{"thinking_budget":1024}}})"})
    EXPECT_TRUE(Read(Provider::kGoogle, "chat", body)->reasons_unseen) << body;
  EXPECT_FALSE(Read(Provider::kGoogle, "chat", R"({"generationConfig":{"maxOutputTokens":50}})")->reasons_unseen);
  EXPECT_FALSE(Read(Provider::kGoogle, "chat", R"({"generationConfig":{"thinkingConfig":{},"thinking_config":{}}})"))
      << "named twice";
}

// gpt-image-1 streams up to 3 partial images ahead of each image, billed each.
TEST(RequestLimits, PartialImagesAreCountedForEveryImage) {
  auto three = Read(Provider::kOpenAI, "images", R"({"model":"gpt-image-1","n":2,"stream":true,"partial_images":3})");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->images, 2);
  EXPECT_EQ(three->partial_images, 6);
  for (std::string_view none :
       {R"({"partial_images":0,"stream":true})", R"({"partial_images":null})", R"({})", R"({"partial_images":2})"}) {
    auto read = Read(Provider::kOpenAI, "images", none);
    ASSERT_TRUE(read) << none;
    EXPECT_EQ(read->partial_images, 0) << none;
  }
  for (std::string_view bad : {R"({"partial_images":4})", R"({"partial_images":-1})", R"({"partial_images":"2"})",
                               R"({"partial_images":1.5})"})
    EXPECT_FALSE(Read(Provider::kOpenAI, "images", bad)) << bad;
}

// A size or quality the call leaves out is the one OpenAI picks: 1024x1024 of standard quality for
// DALL-E, "auto" (which may be the dearest size) for the GPT image models.
TEST(RequestLimits, AnImageSizeOrQualityLeftOutIsTheOneTheModelPicks) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {R"({"model":"gpt-image-1","quality":"high"})", "auto/high"},
      {R"({"model":"gpt-image-1","size":null,"quality":"medium"})", "auto/medium"},
      {R"({"model":"gpt-image-1"})", "auto/auto"},
      {R"({"model":"gpt-image-1","size":"1024x1024","quality":"low"})", "1024x1024/low"},
      {R"({"model":"dall-e-3"})", "1024x1024/standard"},
      {R"({"model":"dall-e-2","size":"512x512"})", "512x512/standard"}};
  for (const auto& [body, kind] : cases) {
    auto read = Read(Provider::kOpenAI, "images", body);
    ASSERT_TRUE(read) << body;
    EXPECT_EQ(read->image_kind, kind) << body;
  }
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

TEST(RequestLimits, ToolsThatRunCodeInTheProvidersSandboxAreNamed) {
  auto runs = [](Provider p, const char* body) {
    auto read = Read(p, "chat", body);
    EXPECT_TRUE(read) << body;
    return read ? read->tool_runs_code : std::string("?");
  };
  EXPECT_EQ(runs(Provider::kOpenAI, R"({"tools":[{"type":"code_interpreter","container":{"type":"auto"}}]})"),
            "code_interpreter");
  EXPECT_EQ(runs(Provider::kOpenAI, R"({"tools":[{"type":"shell","environment":{"type":"container_auto"}}]})"),
            "shell");
  EXPECT_EQ(runs(Provider::kOpenAI, R"({"tools":[{"type":"shell","environment":{"type":"local"}}]})"), "");
  EXPECT_EQ(runs(Provider::kOpenAI, R"({"tools":[{"type":"local_shell"},{"type":"function","name":"f"}]})"), "");
  EXPECT_EQ(runs(Provider::kAnthropic, R"({"max_tokens":9,"tools":[{"type":"code_execution_20250825","name":"x"}]})"),
            "code_execution");
  EXPECT_EQ(runs(Provider::kAnthropic, R"({"max_tokens":9,"tools":[{"type":"bash_20250124","name":"bash"}]})"), "");
  EXPECT_EQ(runs(Provider::kGoogle, R"({"tools":[{"codeExecution":{}}]})"), "codeExecution");
  EXPECT_EQ(runs(Provider::kGoogle, R"({"tools":[{"code_execution":{}}]})"), "code_execution");
  EXPECT_EQ(runs(Provider::kGoogle, R"({"tools":[{"googleSearch":{}}]})"), "");
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
  EXPECT_EQ(anthropic.at("tools").at(1).at("max_uses"), kDefaultToolUses);     // web fetch takes one
  using Uses = std::vector<std::pair<std::string, int64_t>>;
  EXPECT_EQ(read->tools,
            (Uses{{"web_search", kDefaultToolUses}, {"code_execution", kDefaultToolUses}, {"web_search", 9}}));

  json::object openai = json::parse(R"({"tools":[{"type":"web_search_preview"},{"type":"function","name":"f"},
      {"type":"file_search"}],"max_tool_calls":3,"service_tier":"default"})")
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

// A part that is not text, or a server-side tool, makes the provider read more input tokens than
// the body has bytes. The broker finds it whether it read the whole body (translated calls) or
// scanned only what policy keeps (native calls), wherever the provider reads such a part.
TEST(RequestLimits, InputBeyondTheBodysBytesIsFoundInEveryProvidersParts) {
  struct Case {
    Provider wire;
    std::string_view path;
    std::string_view body;
    std::optional<std::string> beyond;  // what is named, if anything
    int64_t turns;
  };
  const Case cases[] = {
      // OpenAI chat completions
      {Provider::kOpenAI, "/v1/chat/completions",
       R"({"model":"m","messages":[{"role":"system","content":"Be \"brief\"."},{"role":"user","content":[{"type":"text","text":"hi"}]},
           {"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":"{\"type\":\"image_url\"}"}}]},
           {"role":"tool","tool_call_id":"1","content":"{\"type\":\"file\"}"},{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]})",
       std::nullopt, 0},
      {Provider::kOpenAI, "/v1/chat/completions",
       R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"https://x.example/a.png"}}]}]})",
       "a part of type 'image_url'", 0},
      {Provider::kOpenAI, "/v1/chat/completions",
       R"({"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]})",
       "a part of type 'file'", 0},
      {Provider::kOpenAI, "/v1/chat/completions",
       R"({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]})",
       "a part of type 'input_audio'", 0},
      {Provider::kOpenAI, "/v1/chat/completions",
       R"({"model":"m","messages":[{"role":"assistant","audio":{"id":"audio_1"}}]})", "an earlier answer's audio", 0},
      {Provider::kOpenAI, "/v1/chat/completions",
       R"({"model":"m","messages":[{"role":"user","content":[{"text":"no type"}]}]})", "a part with no type", 0},
      {Provider::kOpenAI, "/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":{"a":1}}]})",
       "content that is neither text nor parts", 0},
      {Provider::kOpenAI, "/v1/chat/completions",
       R"({"model":"m","messages":[{"role":"user","content":"hi"}],"web_search_options":{}})", "web_search_options", 1},
      // OpenAI Responses
      {Provider::kOpenAI, "/v1/responses",
       R"({"model":"m","input":[{"role":"user","content":"hi"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"yo"}]},
           {"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"42"},
           {"type":"reasoning","summary":[{"type":"summary_text","text":"t"}],"encrypted_content":"gAAAA"}],
           "instructions":[{"role":"developer","content":"be brief"}],"tools":[{"type":"function","name":"f"}]})",
       std::nullopt, 0},
      {Provider::kOpenAI, "/v1/responses",
       R"({"model":"m","input":[{"type":"reasoning","id":"rs_1","summary":[]},{"role":"user","content":"go on"}]})",
       "a reasoning item read by its id", 0},
      {Provider::kOpenAI, "/v1/responses",
       R"({"model":"m","input":"hi","instructions":[{"role":"developer","content":[{"type":"input_image","file_id":"f"}]}]})",
       "a part of type 'input_image'", 0},
      {Provider::kOpenAI, "/v1/responses", R"({"model":"m","input":"hi"})", std::nullopt, 0},
      {Provider::kOpenAI, "/v1/responses",
       R"({"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_url":"https://x.example/a.pdf"}]}]})",
       "a part of type 'input_file'", 0},
      {Provider::kOpenAI, "/v1/responses",
       R"({"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"https://x.example/a.png"}]}]})",
       "a part of type 'input_image'", 0},
      {Provider::kOpenAI, "/v1/responses", R"({"model":"m","input":[{"type":"item_reference","id":"msg_1"}]})",
       "an input item of type 'item_reference'", 0},
      {Provider::kOpenAI, "/v1/responses", R"({"model":"m","input":[{"id":"rs_1"},{"role":"user","content":"go on"}]})",
       "an input item read by its id", 0},
      {Provider::kOpenAI, "/v1/responses",
       R"({"model":"m","input":"hi","tools":[{"type":"mcp","server_label":"s","server_url":"https://x.example"}]})",
       "the server-side tool 'mcp'", kDefaultToolUses},
      {Provider::kOpenAI, "/v1/responses",
       R"({"model":"m","input":"hi","tools":[{"type":"web_search"}],"max_tool_calls":3})",
       "the server-side tool 'web_search'", 3},
      // Anthropic
      {Provider::kAnthropic, "/v1/messages",
       R"({"model":"m","max_tokens":5,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"hi"},
           {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"t","name":"f","input":{"type":"image"}}]},
           {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"ok"}]},{"type":"tool_result","tool_use_id":"u","content":"ok"}]}],
           "tools":[{"name":"f","input_schema":{"type":"object"}},{"type":"bash_20250124","name":"bash"}]})",
       std::nullopt, 0},
      {Provider::kAnthropic, "/v1/messages",
       R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://x.example/a.pdf"}}]}]})",
       "a part of type 'document'", 0},
      {Provider::kAnthropic, "/v1/messages",
       R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}]})",
       "a part of type 'image'", 0},
      {Provider::kAnthropic, "/v1/messages",
       R"({"model":"m","max_tokens":5,"system":[{"type":"image"}],"messages":[{"role":"user","content":"hi"}]})",
       "a part of type 'image'", 0},
      {Provider::kAnthropic, "/v1/messages",
       R"({"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"web_search_tool_result","tool_use_id":"s","content":[]}]}]})",
       "a part of type 'web_search_tool_result'", 0},
      {Provider::kAnthropic, "/v1/messages",
       R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_fetch_20250910","name":"web_fetch","max_uses":2},{"type":"web_search_20250305","name":"web_search"}]})",
       "the server-side tool 'web_fetch_20250910'", 2 + kDefaultToolUses},
      // Gemini
      {Provider::kGoogle, ":generateContent",
       R"({"systemInstruction":{"parts":[{"text":"s"}]},"contents":[{"role":"user","parts":[{"text":"hi"}]},
           {"role":"model","parts":[{"functionCall":{"name":"f","args":{"inlineData":1}}},{"thought":true,"text":"t"}]},
           {"role":"user","parts":[{"functionResponse":{"name":"f","response":{"fileData":2}}}]}],"tools":[{"functionDeclarations":[]}]})",
       std::nullopt, 0},
      {Provider::kGoogle, ":generateContent",
       R"({"contents":[{"parts":[{"text":"what"},{"inlineData":{"mimeType":"video/mp4","data":"AAAA"}}]}]})",
       "a part holding 'inlineData'", 0},
      {Provider::kGoogle, ":generateContent", R"({"contents":[{"parts":[{"file_data":{"file_uri":"gs://b/x"}}]}]})",
       "a part holding 'file_data'", 0},
      {Provider::kGoogle, ":generateContent",
       R"({"contents":[{"parts":[{"functionResponse":{"name":"f","response":{},"parts":[{"inlineData":{"data":"AAAA"}}]}}]}]})",
       "a part holding 'inlineData'", 0},
      {Provider::kGoogle, ":generateContent",
       R"({"system_instruction":{"parts":[{"fileData":{"fileUri":"https://x.example/a.pdf"}}]},"contents":[]})",
       "a part holding 'fileData'", 0},
      {Provider::kGoogle, ":generateContent",
       R"({"contents":[{"parts":[{"text":"read https://x.example"}]}],"tools":[{"urlContext":{}}],"generationConfig":{"candidateCount":2}})",
       "the server-side tool 'urlContext'", 2 * kDefaultToolUses},
      // Google's JSON takes one value where it takes a list.
      {Provider::kGoogle, ":generateContent",
       R"({"contents":{"role":"user","parts":{"fileData":{"fileUri":"https://www.youtube.com/watch?v=x"}}}})",
       "a part holding 'fileData'", 0},
      {Provider::kGoogle, ":generateContent",
       R"({"contents":{"role":"user","parts":[{"text":"hi"},{"inline_data":{"data":"AAAA"}}]}})",
       "a part holding 'inline_data'", 0},
      {Provider::kGoogle, ":generateContent", R"({"contents":{"parts":{"text":"read"}},"tools":{"url_context":{}}})",
       "the server-side tool 'url_context'", kDefaultToolUses},
      {Provider::kGoogle, ":generateContent",
       R"({"contents":{"parts":{"text":"hi"}},"tools":{"functionDeclarations":[]}})", std::nullopt, 0},
  };
  for (const Case& c : cases) {
    const NativeEndpoint* ep = nullptr;
    for (const NativeEndpoint& e : NativeEndpoints())
      if (e.wire == c.wire && e.path == c.path) ep = &e;
    ASSERT_NE(ep, nullptr) << c.path;
    auto scanned = ReadJsonCall(*ep, std::string(c.body), true);
    json::object whole = json::parse(c.body).as_object();
    auto parsed = ReadRequestedUse(c.wire, "chat", whole, true);
    ASSERT_TRUE(scanned) << c.body << ": " << scanned.error().message;
    ASSERT_TRUE(parsed) << c.body;
    for (const RequestedUse* use : {&scanned->asked, &*parsed}) {
      EXPECT_EQ(use->input_beyond_bytes, c.beyond) << c.body;
      EXPECT_EQ(use->tool_turns, c.turns) << c.body;
    }
  }
}

// Names the app chose are shown cut short; Gemini's system instruction under both its names is
// refused, as its other fields are; a grant without a budget does not read the conversation.
TEST(RequestLimits, WhatMakesInputExceedItsBytesIsNamedShortAndReadOnlyForABudget) {
  std::string type(1000, 't');
  std::string body = R"({"model":"m","messages":[{"role":"user","content":[{"type":")" + type + R"("}]}]})";
  auto read = ReadJsonCall(OpenAIChatCompletions(), body, true);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->asked.input_beyond_bytes, "a part of type '" + type.substr(0, 64) + "'");
  auto unbudgeted = ReadJsonCall(OpenAIChatCompletions(), body, false);
  ASSERT_TRUE(unbudgeted);
  EXPECT_EQ(unbudgeted->asked.input_beyond_bytes, std::nullopt);
  auto both =
      Read(Provider::kGoogle, "chat",
           R"({"systemInstruction":{"parts":[{"text":"a"}]},"system_instruction":{"parts":[{"fileData":{}}]}})");
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().code, Errc::kBadRequest);
}

// Duplicated members are refused where the broker now reads them: a provider reads the last.
TEST(RequestLimits, APartsTypeGivenTwiceIsRefused) {
  const NativeEndpoint& chat = OpenAIChatCompletions();
  auto twice = ReadJsonCall(
      chat, R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","type":"image_url"}]}]})", true);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "'type' is given twice");
}

// Priority processing costs up to twice the table's rates: a budget cannot price it.
TEST(RequestLimits, PriorityProcessingIsRefusedOnABudget) {
  auto priority = Read(Provider::kOpenAI, "chat", R"({"model":"m","service_tier":"priority"})");
  ASSERT_FALSE(priority);
  EXPECT_EQ(priority.error().code, Errc::kForbidden);
  EXPECT_TRUE(Read(Provider::kOpenAI, "chat", R"({"model":"m","service_tier":"flex"})"));
  json::object unbudgeted = json::parse(R"({"model":"m","service_tier":"priority"})").as_object();
  EXPECT_TRUE(ReadRequestedUse(Provider::kOpenAI, "chat", unbudgeted, false));
  auto escaped = ReadJsonCall(OpenAIChatCompletions(), R"({"model":"m","service_tier":"pri\u006frity"})", true);
  ASSERT_FALSE(escaped);
  EXPECT_EQ(escaped.error().code, Errc::kForbidden);
}

// A background response goes on after the call ends, past anything the broker meters.
TEST(RequestLimits, ABackgroundResponseIsRefusedOnABudget) {
  for (std::string_view background : {"true", "1", R"("yes")"}) {
    std::string body = R"({"model":"m","input":"hi","background":)" + std::string(background) + "}";
    auto read = Read(Provider::kOpenAI, "chat", body);
    ASSERT_FALSE(read) << body;
    EXPECT_EQ(read.error().code, Errc::kForbidden) << body;
    json::object unbudgeted = json::parse(body).as_object();
    EXPECT_TRUE(ReadRequestedUse(Provider::kOpenAI, "chat", unbudgeted, false)) << body;
  }
  for (std::string_view background : {"false", "null"})
    EXPECT_TRUE(Read(Provider::kOpenAI, "chat", R"({"model":"m","background":)" + std::string(background) + "}"));
  const NativeEndpoint* responses = nullptr;
  for (const NativeEndpoint& e : NativeEndpoints())
    if (e.wire == Provider::kOpenAI && e.path == "/v1/responses") responses = &e;
  auto scanned = ReadJsonCall(*responses, R"({"model":"m","input":"hi","stream":true,"background":true})", true);
  ASSERT_FALSE(scanned);
  EXPECT_EQ(scanned.error().code, Errc::kForbidden);
}

// The shell tool in a container OpenAI provisions is a server-side tool, billed by OpenAI; on the
// app's own computer it is the app's.
TEST(RequestLimits, AShellInOpenAIsContainerIsAServerSideTool) {
  using Uses = std::vector<std::pair<std::string, int64_t>>;
  const NativeEndpoint* responses = nullptr;
  for (const NativeEndpoint& e : NativeEndpoints())
    if (e.wire == Provider::kOpenAI && e.path == "/v1/responses") responses = &e;
  for (std::string_view environment :
       {R"({"type":"container_auto"})", R"({"type":"container_reference","container_id":"c"})",
        R"({"type":"loc\u0061l2"})", R"({})", "5"}) {
    std::string body =
        R"({"model":"m","input":"hi","tools":[{"type":"shell","environment":)" + std::string(environment) + "}]}";
    auto read = ReadJsonCall(*responses, body, true);
    ASSERT_TRUE(read) << body;
    EXPECT_EQ(read->asked.tools, (Uses{{"shell", kDefaultToolUses}})) << body;
    EXPECT_EQ(read->asked.input_beyond_bytes, "the server-side tool 'shell'") << body;
  }
  for (std::string_view tool : {R"({"type":"shell","environment":{"type":"local"}})", R"({"type":"shell"})",
                                R"({"type":"shell","environment":null})"}) {
    auto read = ReadJsonCall(*responses, R"({"model":"m","input":"hi","tools":[)" + std::string(tool) + "]}", true);
    ASSERT_TRUE(read) << tool;
    EXPECT_TRUE(read->asked.tools.empty()) << tool;
  }
}

// A request that marks anything for Anthropic's prompt cache may have its input billed as cache
// writes (for an hour: twice the input price), wherever the mark is.
TEST(RequestLimits, AnthropicCacheMarksAreFoundWhereverTheProviderTakesThem) {
  const NativeEndpoint* messages = nullptr;
  for (const NativeEndpoint& e : NativeEndpoints())
    if (e.wire == Provider::kAnthropic && e.path == "/v1/messages") messages = &e;
  const std::string_view mark = R"("cache_control":{"type":"ephemeral","ttl":"1h"})";
  auto with = [&](std::string_view shape) {
    std::string body(shape);
    body.replace(body.find("MARK"), 4, mark);
    return body;
  };
  for (
      std::string_view shape : {
          R"({"model":"m","max_tokens":5,MARK,"messages":[]})",
          R"({"model":"m","max_tokens":5,"tools":[{"name":"f","input_schema":{},MARK}],"messages":[]})",
          R"({"model":"m","max_tokens":5,"system":[{"type":"text","text":"s",MARK}],"messages":[]})",
          R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"t",MARK}]}]})",
          R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"u",)"
          R"("content":[{"type":"text","text":"r",MARK}]}]}]})",
          // A search result's text, in a message and inside a tool's result, and a document's own.
          R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"search_result","source":"s",)"
          R"("title":"t","content":[{"type":"text","text":"r",MARK}]}]}]})",
          R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result",)"
          R"("tool_use_id":"u","content":[{"type":"search_result","source":"s","title":"t","content":)"
          R"([{"type":"text","text":"r",MARK}]}]}]}]})",
          R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":)"
          R"({"type":"content","content":[{"type":"text","text":"d",MARK}]}}]}]})",
      }) {
    std::string body = with(shape);
    auto scanned = ReadJsonCall(*messages, body, true);
    ASSERT_TRUE(scanned) << body;
    EXPECT_TRUE(scanned->asked.writes_cache) << body;
    json::object parsed = json::parse(body).as_object();
    EXPECT_TRUE(ReadRequestedUse(Provider::kAnthropic, "chat", parsed, true)->writes_cache) << body;
  }
  // An escaped name is the member it names.
  EXPECT_TRUE(ReadJsonCall(
                  *messages,
                  R"({"model":"m","max_tokens":5,"system":[{"type":"text","text":"s","cache\u005fcontrol":{}}]})", true)
                  ->asked.writes_cache);
  for (std::string_view body : {R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})",
                                R"({"model":"m","max_tokens":5,"cache_control":null,"system":"s"})",
                                R"({"model":"m","max_tokens":5,"metadata":{"cache_control":{}}})"})
    EXPECT_FALSE(ReadJsonCall(*messages, std::string(body), true)->asked.writes_cache) << body;
}

// Compaction summarizes the conversation in a pass billed apart from the answer's usage; clearing
// tool results costs nothing.
TEST(RequestLimits, CompactionIsRefusedOnABudgetAndOtherContextEditsGo) {
  const NativeEndpoint* messages = nullptr;
  for (const NativeEndpoint& e : NativeEndpoints())
    if (e.wire == Provider::kAnthropic && e.path == "/v1/messages") messages = &e;
  std::string compact =
      R"({"model":"m","max_tokens":5,"context_management":{"edits":[{"type":"clear_tool_uses_20250919"},)"
      R"({"type":"compact_20260112","trigger":{"type":"input_tokens","value":150000}}]}})";
  auto refused = ReadJsonCall(*messages, compact, true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kForbidden);
  EXPECT_EQ(refused.error().message,
            "'context_management' edit 'compact_20260112' (compaction) is billed in a pass beyond the answer's usage, "
            "and this grant has a budget");
  EXPECT_TRUE(ReadJsonCall(*messages, compact, false));
  EXPECT_TRUE(ReadJsonCall(
      *messages, R"({"model":"m","max_tokens":5,"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]}})",
      true));
}

// Anthropic's fast mode is billed at several times the token prices (six on Opus 4.6).
TEST(RequestLimits, FastModeIsRefusedOnABudget) {
  for (std::string_view speed : {R"("fast")", R"("FAST")", "1", "true"}) {
    std::string body = R"({"model":"m","max_tokens":5,"speed":)" + std::string(speed) + "}";
    auto read = Read(Provider::kAnthropic, "chat", body);
    ASSERT_FALSE(read) << body;
    EXPECT_EQ(read.error().code, Errc::kForbidden) << body;
    json::object unbudgeted = json::parse(body).as_object();
    EXPECT_TRUE(ReadRequestedUse(Provider::kAnthropic, "chat", unbudgeted, false)) << body;
  }
  EXPECT_TRUE(Read(Provider::kAnthropic, "chat", R"({"model":"m","max_tokens":5,"speed":"standard"})"));
  EXPECT_TRUE(Read(Provider::kAnthropic, "chat", R"({"model":"m","max_tokens":5,"speed":null})"));
}

// Gemini's priority tier is billed up to twice the listed rates, and Gemini takes the field by both
// its names and its enum by its own names too: on a budget only the tiers at most the table's rates go.
TEST(RequestLimits, GeminisDearerTiersAreRefusedOnABudgetWhicheverWayTheyAreWritten) {
  for (std::string_view tier : {R"("priority")", R"("SERVICE_TIER_PRIORITY")", "3", R"("PRIORITY")", "{}"})
    for (std::string_view name : {"serviceTier", "service_tier"}) {
      std::string body = R"({"contents":[],")" + std::string(name) + R"(":)" + std::string(tier) + "}";
      auto read = Read(Provider::kGoogle, "chat", body);
      ASSERT_FALSE(read) << body;
      EXPECT_EQ(read.error().code, Errc::kForbidden) << body;
      json::object unbudgeted = json::parse(body).as_object();
      EXPECT_TRUE(ReadRequestedUse(Provider::kGoogle, "chat", unbudgeted, false)) << body;
    }
  for (std::string_view tier : {R"("standard")", R"("flex")", R"("SERVICE_TIER_FLEX")", "null"})
    EXPECT_TRUE(Read(Provider::kGoogle, "chat", R"({"contents":[],"serviceTier":)" + std::string(tier) + "}")) << tier;
  auto twice = Read(Provider::kGoogle, "chat", R"({"serviceTier":"flex","service_tier":"priority"})");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, Errc::kBadRequest);
}

// A tier left to the project is whatever the project is configured with, priority included: on a
// budget the standard one is asked for, in the bytes that go upstream, whichever way it was left.
TEST(RequestLimits, ATierLeftToTheProjectIsTheStandardOneOnABudget) {
  const NativeEndpoint& chat = OpenAIChatCompletions();
  auto sent = [&](std::string body, bool budget = true) { return ReadJsonCall(chat, std::move(body), budget)->body; };
  EXPECT_EQ(sent(R"({"model":"m","messages":[]})"), R"({"model":"m","messages":[],"service_tier":"default"})");
  EXPECT_EQ(sent(R"({"model":"m","service_tier":"auto","n":1})"), R"({"model":"m","service_tier":"default","n":1})");
  EXPECT_EQ(sent(R"({"model":"m","service_tier":null})"), R"({"model":"m","service_tier":"default"})");
  EXPECT_EQ(sent(R"({"model":"m","service_tier":"\u0061uto"})"), R"({"model":"m","service_tier":"default"})");
  // What the app chose is left as it is, and so is everything without a budget.
  EXPECT_EQ(sent(R"({"model":"m","service_tier":"flex"})"), R"({"model":"m","service_tier":"flex"})");
  EXPECT_EQ(sent(R"({"model":"m","service_tier":"auto"})", false), R"({"model":"m","service_tier":"auto"})");
  EXPECT_EQ(sent(R"({"model":"m"})", false), R"({"model":"m"})");
  // A Responses call too; OpenAI's other calls have no tier.
  const NativeEndpoint* responses = nullptr;
  for (const NativeEndpoint& e : NativeEndpoints())
    if (e.wire == Provider::kOpenAI && e.path == "/v1/responses") responses = &e;
  ASSERT_NE(responses, nullptr);
  EXPECT_EQ(ReadJsonCall(*responses, R"({"model":"m","input":"hi"})", true)->body,
            R"({"model":"m","input":"hi","service_tier":"default"})");
  json::object embeddings = json::parse(R"({"model":"m","input":"hi"})").as_object();
  ASSERT_TRUE(ReadRequestedUse(Provider::kOpenAI, "embeddings", embeddings, true));
  EXPECT_FALSE(embeddings.contains("service_tier"));
}

// A declared server's tiers are its own (Groq has no "default", and refuses it): none is set, and on
// a budget none may be asked for, as the price table holds one price a model.
TEST(RequestLimits, ADeclaredServerIsSentNoTierAndOnABudgetAsksForNone) {
  const NativeEndpoint& chat = OpenAIChatCompletions();
  auto read = [&](std::string body, bool budget = true) {
    return ReadJsonCall(chat, std::move(body), budget, {}, Server::kDeclared);
  };
  EXPECT_EQ(read(R"({"model":"m","messages":[]})")->body, R"({"model":"m","messages":[]})");
  EXPECT_EQ(read(R"({"model":"m","service_tier":null})")->body, R"({"model":"m","service_tier":null})");
  for (std::string_view tier : {R"("flex")", R"("auto")", R"("default")", R"("performance")"}) {
    auto asked = read(R"({"model":"m","service_tier":)" + std::string(tier) + "}");
    ASSERT_FALSE(asked) << tier;
    EXPECT_EQ(asked.error().code, Errc::kForbidden);
    EXPECT_NE(asked.error().message.find("'service_tier'"), std::string::npos);
  }
  EXPECT_EQ(read(R"({"model":"m","service_tier":"flex"})", false)->body, R"({"model":"m","service_tier":"flex"})");
}

// Anthropic bills inference kept in one geography above the listed prices: where the call asks
// for it is read as the provider reads it (metered_call prices it; without a name, the workspace's
// default decides).
TEST(RequestLimits, WhereAnthropicIsAskedToRunTheCallIsRead) {
  const NativeEndpoint* messages = nullptr;
  for (const NativeEndpoint& e : NativeEndpoints())
    if (e.wire == Provider::kAnthropic && e.path == "/v1/messages") messages = &e;
  ASSERT_NE(messages, nullptr);
  using Geo = RequestedUse::Geo;
  for (auto [geo, read] :
       {std::pair{R"(,"inference_geo":"us")", Geo::kOne}, std::pair{R"(,"inference_geo":"\u0075s")", Geo::kOne},
        std::pair{R"(,"inference_geo":"eu")", Geo::kOne}, std::pair{R"(,"inference_geo":1)", Geo::kOne},
        std::pair{R"(,"inference_geo":"global")", Geo::kGlobal}, std::pair{R"(,"inference_geo":null)", Geo::kUnnamed},
        std::pair{"", Geo::kUnnamed}}) {
    for (bool budget : {true, false}) {
      auto call = ReadJsonCall(*messages, std::string(R"({"model":"m","max_tokens":5)") + geo + "}", budget);
      ASSERT_TRUE(call) << geo;
      EXPECT_EQ(call->asked.inference_geo, read) << geo;
    }
  }
}

// A prediction's tokens the answer does not use are billed as output: the body's bytes bound them.
TEST(RequestLimits, APredictionMayBeBilledAsOutput) {
  auto predicted = ReadJsonCall(OpenAIChatCompletions(),
                                R"({"model":"m","max_tokens":5,"prediction":{"type":"content","content":"x"}})", true);
  ASSERT_TRUE(predicted);
  EXPECT_TRUE(predicted->asked.output_echoes_body);
  EXPECT_FALSE(Read(Provider::kOpenAI, "chat", R"({"model":"m","prediction":null})")->output_echoes_body);
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

namespace ap::proxy {
namespace {

TEST(QuotedName, IsCutAtACharacterNeverInsideOne) {
  EXPECT_EQ(QuotedName("model"), "'model'");
  std::string long_name = std::string(63, 'a') + "\xC3\xA9" + "tail";  // é straddles the 64th byte
  EXPECT_EQ(QuotedName(long_name), "'" + std::string(63, 'a') + "'");
  EXPECT_EQ(QuotedName(std::string(100, 'b')).size(), 66u);
}

}  // namespace
}  // namespace ap::proxy
