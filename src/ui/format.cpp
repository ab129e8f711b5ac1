#include "ui/format.hpp"

#include "ui/html.hpp"

namespace ap::ui {
namespace {

constexpr int64_t kMicrosPerCent = 10'000;

std::string TwoDigits(int64_t n) { return (n < 10 ? "0" : "") + std::to_string(n); }

}  // namespace

std::string Count(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string Counted(int64_t n, std::string_view unit) {
  return Count(n) + " " + std::string(unit) + (n == 1 ? "" : "s");
}

std::string UsdCents(int64_t cents) {
  bool negative = cents < 0;
  if (negative) cents = -cents;
  return std::string(negative ? "-$" : "$") + Count(cents / 100) + "." + TwoDigits(cents % 100);
}

std::string Usd(int64_t micros) {
  if (micros > 0 && micros < kMicrosPerCent / 2) return "<$0.01";
  bool negative = micros < 0;
  int64_t magnitude = negative ? -micros : micros;
  int64_t cents = (magnitude + kMicrosPerCent / 2) / kMicrosPerCent;
  return UsdCents(negative ? -cents : cents);
}

std::string CentsField(std::optional<int64_t> cents) {
  if (!cents) return "";
  return std::to_string(*cents / 100) + "." + TwoDigits(*cents % 100);
}

std::string Span(int64_t seconds) {
  if (seconds < 0) seconds = -seconds;
  if (seconds >= 86400) return Counted(seconds / 86400, "day");
  if (seconds >= 3600) return Counted(seconds / 3600, "hour");
  if (seconds >= 60) return Counted(seconds / 60, "minute");
  return Counted(seconds, "second");
}

std::string Relative(UnixSeconds at, UnixSeconds now) {
  int64_t delta = at - now;
  if (delta > -60 && delta <= 0) return "just now";
  if (delta > 0 && delta < 60) return "in under a minute";
  return delta < 0 ? Span(delta) + " ago" : "in " + Span(delta);
}

std::string When(UnixSeconds at) {
  std::string iso = FormatIso8601(at);  // 2026-11-30T17:06:15Z
  return iso.substr(0, 10) + " " + iso.substr(11, 5) + " UTC";
}

std::string Day(UnixSeconds at) { return FormatDay(at); }

std::string Facts(const std::vector<Fact>& facts, std::string_view id) {
  std::string html;
  for (const auto& f : facts)
    if (!f.value_html.empty()) html += "<dt>" + Escape(f.label) + "</dt><dd>" + f.value_html + "</dd>";
  if (html.empty()) return "";
  return "<dl class=\"facts\"" + (id.empty() ? std::string() : " id=\"" + Escape(id) + "\"") + ">" + html + "</dl>";
}

}  // namespace ap::ui
