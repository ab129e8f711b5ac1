#pragma once
// What calls cost: a price per provider and model, read from the shipped table (src/metering/prices.toml,
// compiled in) and the owner's [[prices]] overrides. Amounts are integer micro-USD; token prices
// are micro-USD per million tokens, which is the providers' published USD figure times 10^6.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace ap::metering {

// How fast a model writes at most, output tokens a second per answer (Price::tokens_per_second):
// what the shipped table assumes, and the most a [[prices]] entry may say.
inline constexpr int64_t kDefaultTokensPerSecond = 1000;
inline constexpr int64_t kMostTokensPerSecond = 100000;

// Token prices, micro-USD per million tokens.
struct TokenPrices {
  int64_t input = 0;
  int64_t cached_input = 0;  // cache reads
  int64_t cache_write = 0;   // Anthropic's cache creation (5-minute entries)
  int64_t output = 0;
  int64_t cache_write_1h = 0;  // Anthropic's cache creation of 1-hour entries
  int64_t audio_input = 0;     // audio input tokens where they cost more than the rest (Gemini)
  // Audio input read from a cache, where audio_input is set (Gemini); 0: at audio_input.
  int64_t cached_audio_input = 0;
};

struct Price {
  std::string provider;
  std::string model;
  TokenPrices tokens;
  // Prompts longer than this many input tokens are billed at `long_tokens` (Gemini Pro).
  std::optional<int64_t> long_context_above;
  TokenPrices long_tokens;
  int64_t max_output_tokens = 0;                // reserved when the app sets no limit; 0: not a text model
  // The most input tokens one turn of the model reads: what bounds a call's input when its bytes
  // do not (images, files, fetched pages, tool results). 0: not known.
  int64_t context_window = 0;
  // The longer window an app may open with a provider's flag (anthropic-beta context-1m); 0: none.
  int64_t wide_context_window = 0;
  // How many times the tokens an image takes of the window the model bills it as, in percent:
  // OpenAI's smaller models bill images as more tokens than they read (gpt-4o-mini about 33 times).
  // 100: as many as it reads.
  int64_t media_token_percent = 100;
  // What inference kept in one geography costs (Anthropic's inference_geo other than "global", and
  // a workspace's default one), in percent of the token prices; 0: the model takes no inference_geo.
  int64_t geo_inference_percent = 0;
  // The model reasons before it answers, and its stream shows none of it (OpenAI's reasoning
  // models): a stream cut before the provider's usage cannot be counted from its events.
  bool reasons_unseen = false;
  // How many output tokens a second the model writes at most, per answer: what such a cut stream
  // is charged for the time it ran.
  int64_t tokens_per_second = kDefaultTokensPerSecond;
  std::map<std::string, int64_t> image_micros;  // "1024x1024/hd" or "1024x1024" -> micro-USD per image
  int64_t partial_image_micros = 0;             // each partial image a streamed image call asks for
  int64_t audio_minute_micros = 0;              // transcription
  int64_t million_characters_micros = 0;        // speech
  std::map<std::string, int64_t> tool_micros;   // per use of a paid server-side tool: "web_search" -> micro-USD
  // Input tokens the model bills each use of a tool as, at its input price, whatever the answer
  // reports (OpenAI's mini models: a web search's content as a block of 8,000): "web_search" -> 8000.
  std::map<std::string, int64_t> tool_input_tokens;
};

class PriceTable {
 public:
  // Adds or replaces the entry for its provider and model; it takes the provider's tool prices.
  void Put(Price price);
  // Adds or replaces the per-use price of a provider's server-side tool, for all its models.
  void PutTool(const std::string& provider, const std::string& tool, int64_t micros);
  // The model's own price, else its family's: a trailing date or version suffix is dropped
  // ("gpt-4o-2024-08-06" -> "gpt-4o", "claude-sonnet-4-5-20250929" -> "claude-sonnet-4-5").
  const Price* Find(std::string_view provider, std::string_view model) const;
  const std::string& AsOf() const { return as_of_; }
  void SetAsOf(std::string date) { as_of_ = std::move(date); }
  size_t Size() const { return prices_.size(); }

 private:
  // (provider, model), hashed and looked up by views: a call's lookups build no strings and compare
  // the one key they find (an ordered map compared a dozen a call, about 560 instructions; issue 13).
  using Key = std::pair<std::string, std::string>;
  struct KeyHash {
    using is_transparent = void;
    template <class K>
    size_t operator()(const K& key) const {
      size_t provider = std::hash<std::string_view>()(key.first);
      return provider ^
             (std::hash<std::string_view>()(key.second) + 0x9e3779b97f4a7c15 + (provider << 6) + (provider >> 2));
    }
  };
  struct KeyEqual {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return std::string_view(a.first) == std::string_view(b.first) &&
             std::string_view(a.second) == std::string_view(b.second);
    }
  };
  std::unordered_map<Key, Price, KeyHash, KeyEqual> prices_;
  std::map<std::string, std::map<std::string, int64_t>> tools_;  // provider -> tool -> micro-USD per use
  std::string as_of_;
};

// Adds the entries of the TOML array of tables `key` in `toml_text` (`model` in the shipped table,
// `prices` in the config file): a model's prices, or with `tool` instead of `model` a server-side
// tool's price per use (`per_use`). Errors name the source, the entry and the field.
Status AddPrices(std::string_view toml_text, std::string_view key, std::string_view source, PriceTable& into);
// The table shipped with the broker.
Result<PriceTable> DefaultPrices();

// "gemini-2.0-flash-001" -> "gemini-2.0-flash"; the id itself when it has no such suffix.
std::string ModelFamily(std::string_view model);

}  // namespace ap::metering
