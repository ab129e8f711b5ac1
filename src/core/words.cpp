#include "core/words.hpp"

namespace ap {

std::vector<std::string> SplitOnSpaces(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    size_t space = text.find(' ');
    if (space != 0) items.emplace_back(text.substr(0, space));
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  }
  return items;
}

std::string JoinWithSpaces(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : " ") + item;
  return out;
}

}  // namespace ap
