#include "metering/prices.hpp"

#include <toml++/toml.h>

#include <cctype>
#include <cmath>
#include <span>

#include "core/money.hpp"

namespace ap::metering {

extern const char* const kDefaultPricesToml;  // src/metering/prices.toml, compiled in

namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Drops one trailing suffix that names a date or a version, if there is one.
std::optional<std::string_view> WithoutVersionSuffix(std::string_view model) {
  if (model.ends_with("-latest")) return model.substr(0, model.size() - 7);
  size_t dash = model.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  std::string_view last = model.substr(dash + 1);
  std::string_view head = model.substr(0, dash);
  if (AllDigits(last) && last.size() == 8) return head;  // -20250929
  if (AllDigits(last) && last.size() == 3) return head;  // -001
  if (AllDigits(last) && last.size() == 2) {             // -2024-08-06, -preview-05-20
    size_t d2 = head.rfind('-');
    if (d2 == std::string_view::npos || !AllDigits(head.substr(d2 + 1))) return std::nullopt;
    std::string_view before = head.substr(0, d2);
    if (head.size() - d2 - 1 == 2) {
      size_t d3 = before.rfind('-');
      if (d3 != std::string_view::npos && AllDigits(before.substr(d3 + 1)) && before.size() - d3 - 1 == 4)
        return before.substr(0, d3);                                                 // -YYYY-MM-DD
      if (before.ends_with("-preview")) return before.substr(0, before.size() - 8);  // -preview-MM-DD
    }
  }
  if (last == "preview" || last == "exp") return head;
  return std::nullopt;
}

Error Bad(std::string_view source, size_t index, std::string_view field, std::string_view why) {
  return MakeError(Errc::kValidation, std::string(source) + ": entry " + std::to_string(index + 1) + ", '" +
                                          std::string(field) + "' " + std::string(why));
}

constexpr double kMaxUsd = 1e6;  // per unit priced: a token million, an image, a minute, a use

// A USD amount in micro-USD; negative, non-numeric or absurd amounts are refused.
Result<int64_t> UsdAsMicros(const toml::node& node, std::string_view field, std::string_view source, size_t index) {
  std::optional<double> usd = node.value<double>();
  if (!usd || !std::isfinite(*usd) || *usd < 0 || *usd > kMaxUsd)
    return Bad(source, index, field, "must be a number of US dollars from 0 to 1000000");
  return static_cast<int64_t>(std::llround(*usd * 1e6));
}

Result<int64_t> Micros(const toml::table& t, std::string_view field, std::string_view source, size_t index) {
  const toml::node* node = t.get(field);
  if (!node) return 0;
  return UsdAsMicros(*node, field, source, index);
}

// A positive whole number of tokens, at most kMaxTokens.
Result<std::optional<int64_t>> Tokens(const toml::table& t, std::string_view field, std::string_view source,
                                      size_t index) {
  const toml::node* node = t.get(field);
  if (!node) return std::optional<int64_t>();
  auto n = node->value<int64_t>();
  if (!n || *n < 1 || *n > kMaxTokens)
    return Bad(source, index, field, "must be a whole number of tokens from 1 to " + std::to_string(kMaxTokens));
  return n;
}

Status ReadTokenPrices(const toml::table& t, std::string_view prefix, std::string_view source, size_t index,
                       TokenPrices& into) {
  std::string p(prefix);
  for (auto [field, slot] :
       {std::pair{"input", &into.input}, std::pair{"cached_input", &into.cached_input},
        std::pair{"cache_write", &into.cache_write}, std::pair{"cache_write_1h", &into.cache_write_1h},
        std::pair{"output", &into.output}, std::pair{"audio_input", &into.audio_input},
        std::pair{"cached_audio_input", &into.cached_audio_input}}) {
    auto micros = Micros(t, p + field, source, index);
    if (!micros) return micros.error();
    *slot = *micros;
  }
  // Cached audio is priced only where audio is priced above the rest, and never above it.
  if (into.cached_audio_input > 0 && into.audio_input <= into.input)
    return Bad(source, index, p + "cached_audio_input", "needs an " + p + "audio_input above " + p + "input");
  if (into.cached_audio_input > into.audio_input)
    return Bad(source, index, p + "cached_audio_input", "must not be above " + p + "audio_input");
  return {};
}

Status CheckFields(const toml::table& t, std::span<const std::string_view> known, std::string_view source,
                   size_t index) {
  for (const auto& [key, value] : t)
    if (std::find(known.begin(), known.end(), key.str()) == known.end())
      return Bad(source, index, key.str(), "is not a price field");
  return {};
}

Result<std::string> RequiredText(const toml::table& t, std::string_view field, std::string_view source, size_t index) {
  auto text = t[field].value<std::string>();
  if (!text || text->empty()) return Bad(source, index, field, "is required (a non-empty string)");
  return *text;
}

Result<Price> ReadPrice(const toml::table& t, std::string_view source, size_t index) {
  static constexpr std::string_view kKnown[] = {"provider",
                                                "model",
                                                "input",
                                                "cached_input",
                                                "cache_write",
                                                "cache_write_1h",
                                                "audio_input",
                                                "cached_audio_input",
                                                "output",
                                                "long_input",
                                                "long_cached_input",
                                                "long_cache_write",
                                                "long_cache_write_1h",
                                                "long_audio_input",
                                                "long_cached_audio_input",
                                                "long_output",
                                                "long_context_above",
                                                "max_output_tokens",
                                                "context_window",
                                                "wide_context_window",
                                                "geo_inference_percent",
                                                "reasons_unseen",
                                                "tokens_per_second",
                                                "media_token_multiplier",
                                                "images",
                                                "partial_image",
                                                "audio_minute",
                                                "million_characters",
                                                "tool_input_tokens"};
  if (auto known = CheckFields(t, kKnown, source, index); !known) return known.error();
  Price price;
  for (auto [field, slot] : {std::pair{"provider", &price.provider}, std::pair{"model", &price.model}}) {
    auto text = RequiredText(t, field, source, index);
    if (!text) return text.error();
    *slot = *text;
  }
  if (auto read = ReadTokenPrices(t, "", source, index, price.tokens); !read) return read.error();
  auto above = Tokens(t, "long_context_above", source, index);
  if (!above) return above.error();
  if (*above) {
    price.long_context_above = **above;
    if (auto read = ReadTokenPrices(t, "long_", source, index, price.long_tokens); !read) return read.error();
    // A price left out would read as free past the line: each one the entry sets is set there too
    // (a cached read or a cache write left out is charged as input).
    for (auto [field, base, past] : {std::tuple{"input", price.tokens.input, price.long_tokens.input},
                                     std::tuple{"output", price.tokens.output, price.long_tokens.output},
                                     std::tuple{"audio_input", price.tokens.audio_input, price.long_tokens.audio_input}})
      if (base > 0 && !t.contains(std::string("long_") + field))
        return Bad(source, index, std::string("long_") + field,
                   std::string("is required with long_context_above, as '") + field + "' is set");
  } else {
    for (const auto& [key, value] : t)
      if (key.str().starts_with("long_") && key.str() != "long_context_above")
        return Bad(source, index, key.str(), "needs long_context_above, the context past which it applies");
  }
  auto max_output = Tokens(t, "max_output_tokens", source, index);
  if (!max_output) return max_output.error();
  price.max_output_tokens = max_output->value_or(0);
  auto window = Tokens(t, "context_window", source, index);
  if (!window) return window.error();
  price.context_window = window->value_or(0);
  auto wide = Tokens(t, "wide_context_window", source, index);
  if (!wide) return wide.error();
  price.wide_context_window = wide->value_or(0);
  if (const toml::node* media = t.get("media_token_multiplier")) {
    auto times = media->value<double>();
    if (!times || !(*times >= 1 && *times <= 100))
      return Bad(source, index, "media_token_multiplier", "must be a number from 1 to 100");
    price.media_token_percent = static_cast<int64_t>(std::ceil(*times * 100 - 1e-9));
  }
  if (const toml::node* unseen = t.get("reasons_unseen")) {
    auto flag = unseen->value<bool>();
    if (!flag) return Bad(source, index, "reasons_unseen", "must be true or false");
    price.reasons_unseen = *flag;
  }
  if (const toml::node* speed = t.get("tokens_per_second")) {
    auto rate = speed->value<int64_t>();
    if (!rate || *rate < 1 || *rate > kMostTokensPerSecond)
      return Bad(source, index, "tokens_per_second",
                 "must be a whole number from 1 to " + std::to_string(kMostTokensPerSecond));
    price.tokens_per_second = *rate;
  }
  if (const toml::node* geo = t.get("geo_inference_percent")) {
    auto percent = geo->value<int64_t>();
    if (!percent || *percent < 100 || *percent > 1000)
      return Bad(source, index, "geo_inference_percent", "must be a whole number from 100 to 1000");
    price.geo_inference_percent = *percent;
  }
  if (const toml::node* images = t.get("images")) {
    const toml::table* sizes = images->as_table();
    if (!sizes) return Bad(source, index, "images", "must be a table of \"size\" or \"size/quality\" = USD");
    for (const auto& [kind, value] : *sizes) {
      auto micros = UsdAsMicros(value, "images." + std::string(kind.str()), source, index);
      if (!micros) return micros.error();
      price.image_micros[std::string(kind.str())] = *micros;
    }
  }
  auto partial = Micros(t, "partial_image", source, index);
  if (!partial) return partial.error();
  price.partial_image_micros = *partial;
  auto audio = Micros(t, "audio_minute", source, index);
  if (!audio) return audio.error();
  price.audio_minute_micros = *audio;
  auto characters = Micros(t, "million_characters", source, index);
  if (!characters) return characters.error();
  price.million_characters_micros = *characters;
  if (const toml::node* blocks = t.get("tool_input_tokens")) {
    const toml::table* tools = blocks->as_table();
    if (!tools) return Bad(source, index, "tool_input_tokens", "must be a table of \"tool\" = tokens");
    for (const auto& [tool, value] : *tools) {
      auto tokens = value.value<int64_t>();
      if (!tokens || *tokens < 1 || *tokens > kMaxTokens)
        return Bad(source, index, "tool_input_tokens." + std::string(tool.str()),
                   "must be a whole number of tokens from 1 to " + std::to_string(kMaxTokens));
      price.tool_input_tokens[std::string(tool.str())] = *tokens;
    }
  }
  return price;
}

// A server-side tool's price: provider, tool, per_use.
Status ReadToolPrice(const toml::table& t, std::string_view source, size_t index, PriceTable& into) {
  static constexpr std::string_view kKnown[] = {"provider", "tool", "per_use"};
  if (auto known = CheckFields(t, kKnown, source, index); !known) return known.error();
  auto provider = RequiredText(t, "provider", source, index);
  if (!provider) return provider.error();
  auto tool = RequiredText(t, "tool", source, index);
  if (!tool) return tool.error();
  const toml::node* per_use = t.get("per_use");
  if (!per_use) return Bad(source, index, "per_use", "is required (US dollars per use)");
  auto micros = UsdAsMicros(*per_use, "per_use", source, index);
  if (!micros) return micros.error();
  into.PutTool(*provider, *tool, *micros);
  return {};
}

}  // namespace

std::string ModelFamily(std::string_view model) {
  auto family = WithoutVersionSuffix(model);
  return std::string(family ? *family : model);
}

void PriceTable::Put(Price price) {
  if (auto tools = tools_.find(price.provider); tools != tools_.end())
    for (const auto& [tool, micros] : tools->second) price.tool_micros.try_emplace(tool, micros);
  auto key = std::make_pair(price.provider, price.model);
  prices_.insert_or_assign(std::move(key), std::move(price));
}

void PriceTable::PutTool(const std::string& provider, const std::string& tool, int64_t micros) {
  tools_[provider][tool] = micros;
  for (auto& [key, price] : prices_)
    if (price.provider == provider) price.tool_micros[tool] = micros;
}

const Price* PriceTable::Find(std::string_view provider, std::string_view model) const {
  std::string_view name = model;
  for (int step = 0; step < 3; ++step) {  // "gemini-2.5-flash-preview-05-20" needs one step, a few need two
    auto it = prices_.find(std::pair<std::string_view, std::string_view>(provider, name));
    if (it != prices_.end()) return &it->second;
    auto shorter = WithoutVersionSuffix(name);
    if (!shorter) return nullptr;
    name = *shorter;
  }
  return nullptr;
}

Status AddPrices(std::string_view toml_text, std::string_view key, std::string_view source, PriceTable& into) {
  toml::table table;
  try {
    table = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    return MakeError(Errc::kValidation, std::string(source) + ": " + std::string(e.description()));
  }
  if (auto as_of = table["as_of"].value<std::string>()) into.SetAsOf(*as_of);
  const toml::node* node = table.get(key);
  if (!node) return {};
  const toml::array* entries = node->as_array();
  if (!entries)
    return MakeError(Errc::kValidation, std::string(source) + ": '" + std::string(key) +
                                            "' must be an array of tables ([[" + std::string(key) + "]])");
  for (size_t i = 0; i < entries->size(); ++i) {
    const toml::table* t = (*entries)[i].as_table();
    if (!t) return Bad(source, i, key, "must be a table");
    if (t->contains("tool")) {
      if (auto added = ReadToolPrice(*t, source, i, into); !added) return added.error();
      continue;
    }
    auto price = ReadPrice(*t, source, i);
    if (!price) return price.error();
    into.Put(std::move(*price));
  }
  return {};
}

Result<PriceTable> DefaultPrices() {
  PriceTable table;
  if (auto added = AddPrices(kDefaultPricesToml, "model", "src/metering/prices.toml", table); !added)
    return added.error();
  return table;
}

}  // namespace ap::metering
