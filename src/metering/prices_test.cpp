// The shipped price table against the providers' published prices (USD per million tokens, per
// image, per minute, per million characters; see the sources in src/metering/prices.toml).
#include "metering/prices.hpp"

#include <gtest/gtest.h>

#include "metering/cost.hpp"

// Consumption{.input_tokens = ...} leaves the other figures at their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace ap::metering {
namespace {

const PriceTable& Table() {
  static const PriceTable table = DefaultPrices().value();
  return table;
}

int64_t Cost(std::string_view provider, std::string_view model, Consumption used) {
  const Price* price = Table().Find(provider, model);
  EXPECT_NE(price, nullptr) << model;
  return price ? CostMicros(*price, used) : -1;
}

TEST(Prices, OpenAIChatAtPublishedRates) {
  // gpt-4o-mini: $0.15 in, $0.075 cached in, $0.60 out per 1M tokens.
  EXPECT_EQ(Cost("openai", "gpt-4o-mini", {.input_tokens = 1000, .output_tokens = 500}), 150 + 300);
  EXPECT_EQ(Cost("openai", "gpt-4o-mini", {.input_tokens = 1'000'000, .cached_input_tokens = 400'000}),
            90'000 + 30'000);
  // gpt-4o: $2.50 in, $10 out; one million of each is $12.50.
  EXPECT_EQ(Cost("openai", "gpt-4o", {.input_tokens = 1'000'000, .output_tokens = 1'000'000}), 12'500'000);
  EXPECT_EQ(Cost("openai", "text-embedding-3-small", {.input_tokens = 1'000'000}), 20'000);  // $0.02
}

TEST(Prices, DatedModelIdsTakeTheirFamilysPrice) {
  EXPECT_EQ(Table().Find("openai", "gpt-4o-mini-2024-07-18"), Table().Find("openai", "gpt-4o-mini"));
  EXPECT_EQ(Table().Find("anthropic", "claude-sonnet-4-5-20250929"), Table().Find("anthropic", "claude-sonnet-4-5"));
  EXPECT_EQ(Table().Find("anthropic", "claude-3-5-haiku-latest"), Table().Find("anthropic", "claude-3-5-haiku"));
  EXPECT_EQ(Table().Find("google", "gemini-2.5-flash-preview-05-20"), Table().Find("google", "gemini-2.5-flash"));
  EXPECT_EQ(Table().Find("google", "gemini-2.0-flash-001"), Table().Find("google", "gemini-2.0-flash"));
  // A different model is not a dated one: gpt-4o-mini is not priced as gpt-4o, nor opus-4-1 as opus-4.
  EXPECT_NE(Table().Find("openai", "gpt-4o-mini"), Table().Find("openai", "gpt-4o"));
  EXPECT_NE(Table().Find("anthropic", "claude-opus-4-1"), Table().Find("anthropic", "claude-opus-4"));
  EXPECT_EQ(Table().Find("openai", "gpt-unknown"), nullptr);
  EXPECT_EQ(Table().Find("anthropic", "gpt-4o"), nullptr);  // prices are per provider
}

TEST(Prices, AnthropicCacheReadsAndWrites) {
  // claude-sonnet-4-5: $3 in, $3.75 cache write (5 min), $0.30 cache read, $15 out.
  Consumption used{.input_tokens = 2000, .cached_input_tokens = 1000, .cache_write_tokens = 500, .output_tokens = 100};
  EXPECT_EQ(Cost("anthropic", "claude-sonnet-4-5-20250929", used), 1500 + 300 + 1875 + 1500);
  // claude-haiku-4-5: $1 in, $5 out.
  EXPECT_EQ(Cost("anthropic", "claude-haiku-4-5", {.input_tokens = 1'000'000, .output_tokens = 1'000'000}), 6'000'000);
}

// US-only inference (inference_geo "us", or a workspace's default) is 1.1 times the token prices on
// Claude Opus 4.6, Sonnet 4.6 and later; earlier models take no inference_geo.
TEST(Prices, InferenceKeptInOneGeographyCostsMoreOnTheModelsThatTakeIt) {
  EXPECT_EQ(Table().Find("anthropic", "claude-opus-4-6")->geo_inference_percent, 110);
  EXPECT_EQ(Table().Find("anthropic", "claude-sonnet-4-6")->geo_inference_percent, 110);
  EXPECT_EQ(Table().Find("anthropic", "claude-sonnet-4-5")->geo_inference_percent, 0);
  // claude-opus-4-6: $5 in, $25 out; 1,000 of each is $0.03, and $0.033 in the US only.
  EXPECT_EQ(Cost("anthropic", "claude-opus-4-6", {.input_tokens = 1000, .output_tokens = 1000}), 30'000);
  EXPECT_EQ(Cost("anthropic", "claude-opus-4-6", {.input_tokens = 1000, .output_tokens = 1000, .token_percent = 110}),
            33'000);
  // Rounded up: 7 output tokens are 175 micro-USD, 192.5 in the US only.
  EXPECT_EQ(Cost("anthropic", "claude-opus-4-6", {.output_tokens = 7, .token_percent = 110}), 193);
  // What an answer may write in the US only: the budget's $0.033 less the input's $0.0055.
  Consumption input{.input_tokens = 1000, .token_percent = 110};
  EXPECT_EQ(AffordableOutputTokens(*Table().Find("anthropic", "claude-opus-4-6"), input, 33'000), 1000);
  PriceTable table;
  auto bad = AddPrices("[[prices]]\nprovider = \"anthropic\"\nmodel = \"x\"\ngeo_inference_percent = 90\n", "prices",
                       "c", table);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "c: entry 1, 'geo_inference_percent' must be a whole number from 100 to 1000");
}

// How fast a model may write, for a cut stream whose reasoning showed nothing: an owner's server
// that writes faster than the shipped 1,000 tokens a second says so.
TEST(Prices, AnEntrySaysHowFastItsModelWritesFromOneToAHundredThousandTokensASecond) {
  EXPECT_EQ(Table().Find("openai", "gpt-5")->tokens_per_second, kDefaultTokensPerSecond);
  PriceTable table;
  ASSERT_TRUE(
      AddPrices("[[prices]]\nprovider = \"cerebras\"\nmodel = \"fast\"\ninput = 0.1\noutput = 0.2\n"
                "reasons_unseen = true\ntokens_per_second = 3000\n",
                "prices", "c", table));
  EXPECT_EQ(table.Find("cerebras", "fast")->tokens_per_second, 3000);
  for (std::string_view rate : {"0", "-5", "100001", "1.5", "\"fast\""}) {
    PriceTable refused;
    auto bad = AddPrices("[[prices]]\nprovider = \"x\"\nmodel = \"y\"\ntokens_per_second = " + std::string(rate) + "\n",
                         "prices", "c", refused);
    ASSERT_FALSE(bad) << rate;
    EXPECT_EQ(bad.error().message, "c: entry 1, 'tokens_per_second' must be a whole number from 1 to 100000");
  }
}

TEST(Prices, OpenAIsLongPromptsAndFirstSnapshotCostMore) {
  // gpt-5.4 over 272k prompt tokens: $5 in and $22.50 out a million, not $2.50 and $15.
  EXPECT_EQ(Cost("openai", "gpt-5.4", {.input_tokens = 272'000, .output_tokens = 1000}), 680'000 + 15'000);
  EXPECT_EQ(Cost("openai", "gpt-5.4", {.input_tokens = 300'000, .output_tokens = 1000}), 1'500'000 + 22'500);
  // gpt-4o-2024-05-13 kept its launch prices ($5 and $15); later snapshots take gpt-4o's.
  EXPECT_EQ(Cost("openai", "gpt-4o-2024-05-13", {.input_tokens = 1'000'000, .output_tokens = 1'000'000}), 20'000'000);
  EXPECT_EQ(Table().Find("openai", "gpt-4o-2024-08-06"), Table().Find("openai", "gpt-4o"));
  // gpt-image-1 bills its prompt's tokens besides each image: at the dearer image-input rate, $10.
  EXPECT_EQ(Cost("openai", "gpt-image-1", {.input_tokens = 1000, .images = 1, .image_kind = "1024x1024/low"}),
            10'000 + 11'000);
  // Each partial image of a stream: 100 image output tokens at $40 a million.
  EXPECT_EQ(Cost("openai", "gpt-image-1", {.images = 2, .image_kind = "1024x1024/low", .partial_images = 6}),
            2 * 11'000 + 6 * 4'000);
}

// OpenAI's smaller models bill an image as more tokens than it takes of their window.
TEST(Prices, ImagesBilledAsMoreTokensThanTheyReadAreInTheTable) {
  EXPECT_EQ(Table().Find("openai", "gpt-4o-mini")->media_token_percent, 3334);
  EXPECT_EQ(Table().Find("openai", "gpt-4.1-nano")->media_token_percent, 246);
  EXPECT_EQ(Table().Find("openai", "gpt-4o")->media_token_percent, 100);
  PriceTable table;
  for (std::string_view bad : {"0.5", "101", "\"2\""}) {
    auto refused = AddPrices("[[prices]]\nprovider = \"openai\"\nmodel = \"x\"\nmedia_token_multiplier = " +
                                 std::string(bad) + "\n",
                             "prices", "c", table);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().message, "c: entry 1, 'media_token_multiplier' must be a number from 1 to 100");
  }
}

// Gemini bills audio input above its other input on its Flash models.
TEST(Prices, GeminiAudioInputCostsMoreThanText) {
  // gemini-2.5-flash: $0.30 a million input tokens, $1.00 for audio.
  EXPECT_EQ(Cost("google", "gemini-2.5-flash", {.input_tokens = 1'000'000}), 300'000);
  EXPECT_EQ(Cost("google", "gemini-2.5-flash", {.input_tokens = 1'000'000, .audio_input_tokens = 400'000}),
            180'000 + 400'000);
  EXPECT_EQ(Cost("google", "gemini-2.0-flash", {.input_tokens = 1'000'000, .audio_input_tokens = 1'000'000}), 700'000);
  // Never more audio than input, and a model without an audio price bills it as any input.
  EXPECT_EQ(Cost("google", "gemini-2.5-flash", {.input_tokens = 10, .audio_input_tokens = 1'000'000}), 10);
  EXPECT_EQ(Cost("google", "gemini-2.5-pro", {.input_tokens = 100'000, .audio_input_tokens = 100'000}), 125'000);
}

// OpenAI bills a web search's content on gpt-4o-mini and gpt-4.1-mini as a fixed block of 8,000
// input tokens; on other models as the answer's usage says.
TEST(Prices, OpenAIMiniModelsBillEachWebSearchAsEightThousandInputTokens) {
  EXPECT_EQ(Cost("openai", "gpt-4o-mini", {.tool_uses = {{"web_search", 2}}}), 2 * (10'000 + 1'200));
  EXPECT_EQ(Cost("openai", "gpt-4o-mini-2024-07-18", {.tool_uses = {{"web_search", 1}}}), 11'200);
  EXPECT_EQ(Cost("openai", "gpt-4.1-mini", {.tool_uses = {{"web_search", 1}}}), 10'000 + 3'200);
  EXPECT_EQ(Cost("openai", "gpt-4o", {.tool_uses = {{"web_search", 1}}}), 10'000);
  EXPECT_EQ(Cost("openai", "gpt-4o-mini", {.tool_uses = {{"web_search_preview", 1}}}), 25'000);
  PriceTable table;
  for (auto [bad, why] : {std::pair{"5", "'tool_input_tokens' must be a table of \"tool\" = tokens"},
                          std::pair{"{ web_search = 0 }", "'tool_input_tokens.web_search' must be a whole number"},
                          std::pair{"{ web_search = \"8000\" }", "'tool_input_tokens.web_search' must be a whole"}}) {
    auto refused =
        AddPrices("[[prices]]\nprovider = \"openai\"\nmodel = \"x\"\ntool_input_tokens = " + std::string(bad) + "\n",
                  "prices", "c", table);
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find(why), std::string::npos) << refused.error().message;
  }
}

// Audio read from Gemini's cache costs more than cached text too: $0.10 a million on 2.5 Flash
// against $0.03.
TEST(Prices, GeminiCachedAudioCostsMoreThanCachedText) {
  // 1M input: 600k cached, of which 400k audio; 100k fresh audio; 300k fresh text.
  EXPECT_EQ(Cost("google", "gemini-2.5-flash",
                 {.input_tokens = 1'000'000,
                  .cached_input_tokens = 600'000,
                  .audio_input_tokens = 500'000,
                  .cached_audio_input_tokens = 400'000}),
            300'000 * 3 / 10 + 100'000 + 200'000 * 3 / 100 + 400'000 / 10);
  // All of the input read from the cache, and all of it audio.
  auto all_cached_audio = [](int64_t tokens) {
    return Consumption{.input_tokens = tokens,
                       .cached_input_tokens = tokens,
                       .audio_input_tokens = tokens,
                       .cached_audio_input_tokens = tokens};
  };
  EXPECT_EQ(Cost("google", "gemini-2.0-flash", all_cached_audio(1'000'000)), 175'000);
  // An answer that reports cached input but not its modalities: the audio is as dear as it can
  // be, fresh first (the 600k fresh tokens all audio, the other 400k of audio in the cache).
  EXPECT_EQ(Cost("google", "gemini-2.5-flash",
                 {.input_tokens = 1'000'000, .cached_input_tokens = 400'000, .audio_input_tokens = 1'000'000}),
            600'000 + 400'000 / 10);
  // A model whose audio costs as any input bills cached audio as any cached input.
  EXPECT_EQ(Cost("google", "gemini-2.5-pro", all_cached_audio(100'000)), 12'500);
  // An owner's entry that prices audio apart and not cached audio bills it at the audio price.
  PriceTable table;
  ASSERT_TRUE(
      AddPrices("[[prices]]\nprovider = \"google\"\nmodel = \"gemini-x\"\ninput = 0.30\naudio_input = 1.00\n"
                "cached_input = 0.03\n",
                "prices", "c", table));
  EXPECT_EQ(CostMicros(*table.Find("google", "gemini-x"), all_cached_audio(1'000'000)), 1'000'000);
  // There, with the split unsaid, the dearest is the cache first: 400k of audio cached at $1.00,
  // 600k of text fresh at $0.30.
  EXPECT_EQ(CostMicros(*table.Find("google", "gemini-x"),
                       {.input_tokens = 1'000'000, .cached_input_tokens = 400'000, .audio_input_tokens = 400'000}),
            400'000 + 180'000);
  // A cached audio price where audio is not priced apart, or above the audio price, is refused.
  for (auto [entry, why] :
       {std::pair{"input = 0.30\ncached_audio_input = 0.10\n", "'cached_audio_input' needs an audio_input above input"},
        std::pair{"input = 0.30\naudio_input = 1.00\ncached_audio_input = 1.50\n",
                  "'cached_audio_input' must not be above audio_input"}}) {
    auto refused =
        AddPrices("[[prices]]\nprovider = \"google\"\nmodel = \"y\"\n" + std::string(entry), "prices", "c", table);
    ASSERT_FALSE(refused) << entry;
    EXPECT_NE(refused.error().message.find(why), std::string::npos) << refused.error().message;
  }
}

TEST(Prices, GeminiProLongPromptsCostMore) {
  // gemini-2.5-pro: $1.25 in / $10 out up to 200k prompt tokens, $2.50 / $15 above.
  EXPECT_EQ(Cost("google", "gemini-2.5-pro", {.input_tokens = 100'000, .output_tokens = 1000}), 125'000 + 10'000);
  EXPECT_EQ(Cost("google", "gemini-2.5-pro", {.input_tokens = 300'000, .output_tokens = 1000}), 750'000 + 15'000);
  EXPECT_EQ(Cost("google", "gemini-2.5-flash", {.input_tokens = 1'000'000, .output_tokens = 1'000'000}), 2'800'000);
}

TEST(Prices, ImagesAudioAndSpeech) {
  EXPECT_EQ(Cost("openai", "dall-e-3", {.images = 1, .image_kind = "1024x1792/hd"}), 120'000);
  EXPECT_EQ(Cost("openai", "dall-e-3", {.images = 2, .image_kind = "1024x1024/standard"}), 80'000);
  EXPECT_EQ(Cost("openai", "dall-e-2", {.images = 1, .image_kind = "512x512"}), 18'000);
  // A size the table does not know is charged as the dearest image, never less.
  EXPECT_EQ(Cost("openai", "gpt-image-1", {.images = 1, .image_kind = "4096x4096/ultra"}), 250'000);
  // A size or quality the model chooses: the dearest of the size or quality asked for, or of all.
  EXPECT_EQ(Cost("openai", "gpt-image-1", {.images = 1, .image_kind = "auto/medium"}), 63'000);
  EXPECT_EQ(Cost("openai", "gpt-image-1", {.images = 1, .image_kind = "auto/high"}), 250'000);
  EXPECT_EQ(Cost("openai", "gpt-image-1", {.images = 1, .image_kind = "1024x1024/auto"}), 167'000);
  EXPECT_EQ(Cost("openai", "gpt-image-1", {.images = 1, .image_kind = "auto/auto"}), 250'000);
  EXPECT_EQ(Cost("openai", "whisper-1", {.audio_seconds = 90}), 9'000);  // $0.006 a minute
  EXPECT_EQ(Cost("openai", "tts-1", {.characters = 1000}), 15'000);      // $15 per 1M characters
  EXPECT_EQ(Cost("openai", "omni-moderation-latest", {.input_tokens = 500}), 0);
}

TEST(Prices, CostsRoundUpToTheNextMicroDollar) {
  EXPECT_EQ(Cost("openai", "gpt-4o-mini", {.input_tokens = 1}), 1);  // $0.00000015
  EXPECT_EQ(Cost("openai", "gpt-4o-mini", {.input_tokens = 0}), 0);
}

TEST(Prices, AffordableOutputTokens) {
  const Price& mini = *Table().Find("openai", "gpt-4o-mini");
  // $0.60 per 1M output tokens: 600 micro-USD buy 1000 tokens after an input of 0.
  EXPECT_EQ(AffordableOutputTokens(mini, {}, 600), 1000);
  EXPECT_EQ(AffordableOutputTokens(mini, {.input_tokens = 1000}, 600), 750);  // the input takes 150
  EXPECT_EQ(AffordableOutputTokens(mini, {.input_tokens = 10'000}, 600), 0);
}

TEST(Prices, OwnerEntriesOverrideAndExtend) {
  PriceTable table = DefaultPrices().value();
  size_t shipped = table.Size();
  ASSERT_TRUE(AddPrices(R"([[prices]]
provider = "openai"
model = "gpt-4o-mini"
input = 1.0
output = 2.0
[[prices]]
provider = "ollama"
model = "llama3.2"
input = 0
output = 0
max_output_tokens = 4096
)",
                        "prices", "config.toml", table));
  EXPECT_EQ(table.Size(), shipped + 1);
  EXPECT_EQ(CostMicros(*table.Find("openai", "gpt-4o-mini"), {.input_tokens = 1'000'000}), 1'000'000);
  EXPECT_EQ(table.Find("ollama", "llama3.2")->max_output_tokens, 4096);
  EXPECT_EQ(table.AsOf(), "2026-11-28");
}

TEST(Prices, BadEntriesAreRefusedWithTheirPlace) {
  PriceTable table;
  auto bad =
      AddPrices("[[prices]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = -1\n", "prices", "config.toml", table);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "config.toml: entry 1, 'input' must be a number of US dollars from 0 to 1000000");
  auto unknown = AddPrices("[[prices]]\nprovider = \"openai\"\nmodel = \"x\"\nimput = 1\n", "prices", "c", table);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "c: entry 1, 'imput' is not a price field");
  auto nameless = AddPrices("[[prices]]\nprovider = \"openai\"\n", "prices", "c", table);
  ASSERT_FALSE(nameless);
  EXPECT_EQ(nameless.error().message, "c: entry 1, 'model' is required (a non-empty string)");
}

// A long-context tier whose output price was left out would make every token written past the
// line free (and send no output limit): each price the entry sets must be set past the line too.
TEST(Prices, ALongContextTierPricesWhatTheEntryPrices) {
  PriceTable table;
  auto entry = [](std::string_view rest) {
    return "[[prices]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = 2.5\noutput = 15\n" + std::string(rest);
  };
  auto free_output = AddPrices(entry("long_context_above = 272000\nlong_input = 5\n"), "prices", "c", table);
  ASSERT_FALSE(free_output);
  EXPECT_EQ(free_output.error().message,
            "c: entry 1, 'long_output' is required with long_context_above, as 'output' is set");
  auto lineless = AddPrices(entry("long_input = 5\nlong_output = 22.5\n"), "prices", "c", table);
  ASSERT_FALSE(lineless);
  EXPECT_EQ(lineless.error().message,
            "c: entry 1, 'long_input' needs long_context_above, the context past which it applies");
  ASSERT_TRUE(
      AddPrices(entry("long_context_above = 272000\nlong_input = 5\nlong_output = 22.5\n"), "prices", "c", table));
  EXPECT_EQ(CostMicros(*table.Find("openai", "x"), {.input_tokens = 300'000, .output_tokens = 1'000'000}),
            1'500'000 + 22'500'000);
}

TEST(Prices, FormatsDollars) {
  EXPECT_EQ(FormatUsd(1'234'567), "$1.234567");
  EXPECT_EQ(FormatUsd(150), "$0.000150");
}

}  // namespace
}  // namespace ap::metering
