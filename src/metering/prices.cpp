#include "metering/prices.hpp"

#include <toml++/toml.h>

#include <cctype>
#include <cmath>

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

// A USD amount in micro-USD; negative or non-numeric amounts are refused.
Result<int64_t> Micros(const toml::table& t, std::string_view field, std::string_view source, size_t index) {
  const toml::node* node = t.get(field);
  if (!node) return 0;
  std::optional<double> usd = node->value<double>();
  if (!usd || !std::isfinite(*usd) || *usd < 0 || *usd > 1e6)
    return Bad(source, index, field, "must be a non-negative number of US dollars");
  return static_cast<int64_t>(std::llround(*usd * 1e6));
}

Status ReadTokenPrices(const toml::table& t, std::string_view prefix, std::string_view source, size_t index,
                       TokenPrices& into) {
  std::string p(prefix);
  for (auto [field, slot] : {std::pair{"input", &into.input}, std::pair{"cached_input", &into.cached_input},
                             std::pair{"cache_write", &into.cache_write}, std::pair{"output", &into.output}}) {
    auto micros = Micros(t, p + field, source, index);
    if (!micros) return micros.error();
    *slot = *micros;
  }
  return {};
}

Result<Price> ReadPrice(const toml::table& t, std::string_view source, size_t index) {
  static constexpr std::string_view kKnown[] = {"provider",
                                                "model",
                                                "input",
                                                "cached_input",
                                                "cache_write",
                                                "output",
                                                "long_input",
                                                "long_cached_input",
                                                "long_cache_write",
                                                "long_output",
                                                "long_context_above",
                                                "max_output_tokens",
                                                "images",
                                                "audio_minute",
                                                "million_characters"};
  for (const auto& [key, value] : t)
    if (std::find(std::begin(kKnown), std::end(kKnown), key.str()) == std::end(kKnown))
      return Bad(source, index, key.str(), "is not a price field");
  Price price;
  for (auto [field, slot] : {std::pair{"provider", &price.provider}, std::pair{"model", &price.model}}) {
    auto text = t[field].value<std::string>();
    if (!text || text->empty()) return Bad(source, index, field, "is required (a non-empty string)");
    *slot = *text;
  }
  if (auto read = ReadTokenPrices(t, "", source, index, price.tokens); !read) return read.error();
  if (auto above = t["long_context_above"].value<int64_t>()) {
    if (*above < 1) return Bad(source, index, "long_context_above", "must be a positive number of tokens");
    price.long_context_above = *above;
    if (auto read = ReadTokenPrices(t, "long_", source, index, price.long_tokens); !read) return read.error();
  }
  if (const toml::node* max = t.get("max_output_tokens")) {
    auto n = max->value<int64_t>();
    if (!n || *n < 1) return Bad(source, index, "max_output_tokens", "must be a positive number of tokens");
    price.max_output_tokens = *n;
  }
  if (const toml::node* images = t.get("images")) {
    const toml::table* sizes = images->as_table();
    if (!sizes) return Bad(source, index, "images", "must be a table of \"size\" or \"size/quality\" = USD");
    for (const auto& [kind, value] : *sizes) {
      auto usd = value.value<double>();
      if (!usd || *usd < 0) return Bad(source, index, "images." + std::string(kind.str()), "must be US dollars");
      price.image_micros[std::string(kind.str())] = std::llround(*usd * 1e6);
    }
  }
  auto audio = Micros(t, "audio_minute", source, index);
  if (!audio) return audio.error();
  price.audio_minute_micros = *audio;
  auto characters = Micros(t, "million_characters", source, index);
  if (!characters) return characters.error();
  price.million_characters_micros = *characters;
  return price;
}

}  // namespace

std::string ModelFamily(std::string_view model) {
  auto family = WithoutVersionSuffix(model);
  return std::string(family ? *family : model);
}

void PriceTable::Put(Price price) {
  auto key = std::make_pair(price.provider, price.model);
  prices_.insert_or_assign(std::move(key), std::move(price));
}

const Price* PriceTable::Find(std::string_view provider, std::string_view model) const {
  std::string_view name = model;
  for (int step = 0; step < 3; ++step) {  // "gemini-2.5-flash-preview-05-20" needs one step, a few need two
    auto it = prices_.find(std::make_pair(std::string(provider), std::string(name)));
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
