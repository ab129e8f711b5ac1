#pragma once
// Numbers and times in the owner's terms, for the pages: dollars to the cent, "<$0.01" for a
// spend too small to show, "3 hours ago", thousands separated, and label/value lists that leave
// out what is empty (never "Home page: ()").
// Thread-safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/time.hpp"

namespace ap::ui {

// micro-USD as "$1,234.57", rounded to the nearest cent (half a cent up); "<$0.01" for a positive
// amount under half a cent, which would otherwise read as nothing spent; "$0.00" for zero.
std::string Usd(int64_t micros);
// Whole cents as "$5.00".
std::string UsdCents(int64_t cents);
// Cents as the text a form field holds: "5.00"; empty for none.
std::string CentsField(std::optional<int64_t> cents);

// 12345 -> "12,345"
std::string Count(int64_t n);
// "1 request", "3 requests" (the plural is `unit` + "s").
std::string Counted(int64_t n, std::string_view unit);

// How far `at` is from `now`, in the largest whole unit: "just now", "3 hours ago", "in 2 days",
// "in 5 minutes". Under a minute either way is "just now" (past) or "in under a minute".
std::string Relative(UnixSeconds at, UnixSeconds now);
// A span in the largest whole unit: "2 days", "1 hour", "45 seconds".
std::string Span(int64_t seconds);
// "2026-11-30 17:06 UTC"
std::string When(UnixSeconds at);
// "2026-11-30"
std::string Day(UnixSeconds at);

// One "label: value" pair of a list; a pair whose value is empty is left out.
struct Fact {
  std::string label;
  std::string value_html;  // already HTML (escaped by the caller)
};
// A <dl> of the facts with a value; empty when none has one.
std::string Facts(const std::vector<Fact>& facts, std::string_view id = {});

}  // namespace ap::ui
