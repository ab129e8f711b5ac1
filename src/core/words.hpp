#pragma once
// Space-separated lists, as OAuth writes scopes and resources and the store keeps id chains.

#include <string>
#include <string_view>
#include <vector>

namespace ap {

// The items of `text` between single spaces; empty items (two spaces, a space at an end) are left
// out.
std::vector<std::string> SplitOnSpaces(std::string_view text);

// The items joined with single spaces.
std::string JoinWithSpaces(const std::vector<std::string>& items);

}  // namespace ap
