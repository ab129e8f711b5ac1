#include "core/time.hpp"

#include <time.h>

#include <chrono>
#include <cstdint>

namespace ap {

namespace {

// `coarse` as of the kernel's last tick, or `precise` on a system without it (a sandbox's own kernel).
timespec ReadClock(clockid_t coarse, clockid_t precise) {
  timespec t{};
  if (clock_gettime(coarse, &t) != 0) clock_gettime(precise, &t);
  return t;
}

}  // namespace

// The wall clock as of the kernel's last tick (CLOCK_REALTIME_COARSE: 1 to 4 ms behind), read in a
// fifth of system_clock's time: whole seconds need no more, and a relayed call reads it some five
// times (its token's and grant's lifetimes, its day).
UnixSeconds SystemNow() { return ReadClock(CLOCK_REALTIME_COARSE, CLOCK_REALTIME).tv_sec; }

CoarseClock::time_point CoarseClock::now() noexcept {
  timespec t = ReadClock(CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC);
  return time_point(std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec));
}

int64_t MonotonicSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Clock SystemClock() { return &SystemNow; }

namespace {

// A UTC time of day and its proleptic Gregorian date.
struct CivilTime {
  int64_t year;
  unsigned month, day, hour, minute, second;
};

CivilTime CivilOf(UnixSeconds t) {
  int64_t days = t / 86400, secs = t % 86400;  // floored, without the overflow of t - 86399
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  // Howard Hinnant's civil_from_days.
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  CivilTime out{};
  out.day = doy - (153 * mp + 2) / 5 + 1;
  out.month = mp < 10 ? mp + 3 : mp - 9;
  out.year = static_cast<int64_t>(yoe) + era * 400 + (out.month <= 2);
  out.hour = static_cast<unsigned>(secs / 3600);
  out.minute = static_cast<unsigned>(secs / 60 % 60);
  out.second = static_cast<unsigned>(secs % 60);
  return out;
}

// `value` in at least `digits` digits (at most 20), appended at once: a character at a time cost
// some thirty instructions each.
void AppendDigits(std::string& out, uint64_t value, int digits) {
  char text[20];
  size_t n = sizeof text;
  do {
    text[--n] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0);
  while (n > sizeof text - static_cast<size_t>(digits)) text[--n] = '0';
  out.append(text + n, sizeof text - n);
}

// As JavaScript's toISOString writes a year: four digits from 0000 to 9999, else a sign and at
// least six ("+010000", "-000001").
void AppendYear(std::string& out, int64_t year) {
  if (year >= 0 && year <= 9999) return AppendDigits(out, static_cast<uint64_t>(year), 4);
  out += year < 0 ? '-' : '+';
  AppendDigits(out, year < 0 ? 0 - static_cast<uint64_t>(year) : static_cast<uint64_t>(year), 6);
}

void AppendDate(std::string& out, const CivilTime& c) {
  AppendYear(out, c.year);
  out += '-';
  AppendDigits(out, c.month, 2);
  out += '-';
  AppendDigits(out, c.day, 2);
}

std::string FormatDateTime(UnixSeconds t, unsigned millis) {
  CivilTime c = CivilOf(t);
  std::string text;
  text.reserve(24);
  AppendDate(text, c);
  text += 'T';
  AppendDigits(text, c.hour, 2);
  text += ':';
  AppendDigits(text, c.minute, 2);
  text += ':';
  AppendDigits(text, c.second, 2);
  text += '.';
  AppendDigits(text, millis, 3);
  text += 'Z';
  return text;
}

}  // namespace

std::string FormatIso8601(UnixSeconds t) { return FormatDateTime(t, 0); }

// 10 characters in these millennia ("2026-11-28", at most 15 until the year 999999): held in the
// string itself, not allocated (every settled call names its day).
std::string FormatDay(UnixSeconds t) {
  std::string text;
  AppendDate(text, CivilOf(t));
  return text;
}

UnixMillis SystemNowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatIso8601Millis(UnixMillis t) {
  int64_t millis = t % 1000;  // rounded down, before 1970 too, without overflow
  UnixMillis seconds = t / 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  return FormatDateTime(seconds, static_cast<unsigned>(millis));
}

namespace {

// Reads exactly `digits` decimal digits at `pos`.
std::optional<int> Digits(std::string_view text, size_t pos, size_t digits) {
  if (pos + digits > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = pos; i < pos + digits; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

std::optional<UnixMillis> ParseIso8601Millis(std::string_view text) {
  auto year = Digits(text, 0, 4), month = Digits(text, 5, 2), day = Digits(text, 8, 2);
  if (!year || !month || !day || text[4] != '-' || text[7] != '-' || *month < 1 || *month > 12 || *day < 1 ||
      *day > 31)
    return std::nullopt;
  int64_t days = DaysFromCivil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  if (text.size() == 10) return days * 86400 * 1000;
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return std::nullopt;
  auto hour = Digits(text, 11, 2), minute = Digits(text, 14, 2), second = Digits(text, 17, 2);
  if (!hour || !minute || !second || text[13] != ':' || text[16] != ':' || *hour > 23 || *minute > 59 ||
      *second > 60)
    return std::nullopt;
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    int64_t scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
  }
  int64_t offset_seconds = 0;
  if (pos == text.size()) return std::nullopt;  // a time without a zone is ambiguous
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    auto oh = Digits(text, pos + 1, 2), om = Digits(text, pos + 4, 2);
    if (!oh || !om || text[pos + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
    offset_seconds = (*oh * 3600 + *om * 60) * (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  int64_t seconds = days * 86400 + *hour * 3600 + *minute * 60 + *second - offset_seconds;
  return seconds * 1000 + millis;
}

}  // namespace ap
