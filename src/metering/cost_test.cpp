#include "metering/cost.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "core/money.hpp"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"  // Consumption{.output_tokens = ...}

namespace ap::metering {
namespace {

Price DallE2() {
  Price p;
  p.provider = "openai";
  p.model = "dall-e-2";
  p.image_micros = {{"1024x1024", 20'000}};
  return p;
}

Price Mini() {
  Price p;
  p.provider = "openai";
  p.model = "gpt-4o-mini";
  p.tokens = {150'000, 75'000, 0, 600'000};
  p.max_output_tokens = 16384;
  p.tool_micros = {{"web_search", 10'000}};
  return p;
}

TEST(Cost, HugeCountsSaturateAtTheBoundInsteadOfWrapping) {
  // The review's attack: 872337203685477 images at $0.02 wrapped to about -1e18.
  Consumption images;
  images.images = 872'337'203'685'477;
  images.image_kind = "1024x1024/standard";
  EXPECT_EQ(CostMicros(DallE2(), images), kMaxMicros);
  Consumption tokens;
  tokens.input_tokens = INT64_MAX;
  tokens.output_tokens = INT64_MAX;
  EXPECT_EQ(CostMicros(Mini(), tokens), kMaxMicros);
  Consumption audio;
  audio.audio_seconds = 1e300;
  Price whisper;
  whisper.audio_minute_micros = 6000;
  EXPECT_EQ(CostMicros(whisper, audio), kMaxMicros);
}

TEST(Cost, NegativeFiguresCostTheMostNeverARefund) {
  Consumption used;
  used.output_tokens = -1'000'000;
  EXPECT_EQ(CostMicros(Mini(), used), CostMicros(Mini(), Consumption{.output_tokens = kMaxTokens}));
  EXPECT_GT(CostMicros(Mini(), used), 0);
  Consumption audio;
  audio.audio_seconds = -60;
  EXPECT_EQ(CostMicros(Price{}, audio), kMaxMicros);
}

TEST(Cost, ServerToolUsesArePricedPerUse) {
  Consumption used;
  used.input_tokens = 1000;
  used.tool_uses = {{"web_search", 3}};
  EXPECT_EQ(CostMicros(Mini(), used), 150 + 3 * 10'000);
  EXPECT_EQ(UnpricedTool(Mini(), {{"web_search", 1}}), std::nullopt);
  EXPECT_EQ(UnpricedTool(Mini(), {{"web_search", 1}, {"code_interpreter", 1}}), "code_interpreter");
}

TEST(Cost, ReportedToolUsesAreChargedAtTheDearestMatchingToolOffered) {
  Price p = Mini();
  p.tool_micros["web_search_preview"] = 25'000;
  // OpenAI reports both of its web search tools as web_search_call: the dearer one offered is charged.
  std::vector<ToolUses> offered = {{"web_search", 5}, {"web_search_preview", 5}, {"file_search", 5}};
  std::vector<ToolUses> charged = ChargedToolUses(p, offered, {{"web_search", 2}, {"file_search", 1}});
  EXPECT_EQ(charged, (std::vector<ToolUses>{{"web_search_preview", 2}, {"file_search", 1}}));
  // A use of a tool the call did not offer is still charged, under its own name.
  EXPECT_EQ(ChargedToolUses(p, {}, {{"web_search", 3}}), (std::vector<ToolUses>{{"web_search", 3}}));
  EXPECT_EQ(ChargedToolUses(p, offered, {}), std::vector<ToolUses>{});
}

// A model that bills each use of a tool as input tokens too: at its input price, per use.
TEST(Cost, ToolUsesBilledAsInputAddTheirTokens) {
  Price p = Mini();  // $0.15 a million input
  p.tool_input_tokens["web_search"] = 8000;
  Consumption used;
  used.tool_uses = {{"web_search", 3}};
  EXPECT_EQ(CostMicros(p, used), 3 * (10'000 + 1'200));
  used.tool_uses = {{"file_search", 1}};
  EXPECT_EQ(CostMicros(p, used), CostMicros(Mini(), used));
  // The block counts when the dearest tool offered is picked: 11,200 against 11,000.
  // However many uses, tokens a use and dollars a token, the arithmetic does not wrap: the charge
  // is the most there is.
  Price dear = p;
  dear.tokens.input = 1'000'000'000'000;  // $1,000,000 a million, the table's most
  dear.tool_input_tokens["web_search"] = kMaxTokens;
  used.tool_uses = {{"web_search", std::numeric_limits<int64_t>::max()}};
  EXPECT_EQ(CostMicros(dear, used), kMaxMicros);
  p.tool_micros["web_search_other"] = 11'000;
  EXPECT_EQ(ChargedToolUses(p, {{"web_search_other", 1}, {"web_search", 1}}, {{"web_search", 1}}),
            (std::vector<ToolUses>{{"web_search", 1}}));
}

// Anthropic bills a cache write for an hour at twice the input price, for five minutes at 1.25
// times; a table without the hour's price charges the five minutes' (and that, the input's).
TEST(Cost, CacheWritesAreChargedByTheirLifetime) {
  Price sonnet;
  sonnet.tokens = {3'000'000, 300'000, 3'750'000, 15'000'000, 6'000'000};
  Consumption used{.input_tokens = 1'000'000, .cache_write_tokens = 900'000, .cache_write_1h_tokens = 700'000};
  EXPECT_EQ(CostMicros(sonnet, used), 300'000 + 750'000 + 4'200'000);
  used.cache_write_1h_tokens = 2'000'000;  // never more than the writes
  EXPECT_EQ(CostMicros(sonnet, used), 300'000 + 5'400'000);
  sonnet.tokens.cache_write_1h = 0;
  EXPECT_EQ(CostMicros(sonnet, used), 300'000 + 3'375'000);
}

TEST(Cost, AffordableOutputLeavesRoomForTheToolsAndNeverOverflows) {
  Consumption input;
  input.input_tokens = 1000;  // 150 micro-USD
  input.tool_uses = {{"web_search", 1}};
  EXPECT_EQ(AffordableOutputTokens(Mini(), input, 10'150 + 600), 1000);
  EXPECT_EQ(AffordableOutputTokens(Mini(), input, 10'000), 0);
  EXPECT_EQ(AffordableOutputTokens(Mini(), Consumption{}, kMaxMicros), kMaxTokens);
}

}  // namespace
}  // namespace ap::metering
