#pragma once
// Wall-clock time as whole seconds since the Unix epoch, an injectable clock, a coarse monotonic
// clock, and the ISO 8601 text form the reference API uses ("2026-11-28T10:00:00.000Z").

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ap {

using UnixSeconds = int64_t;

// Thread-safe: a plain function object; tests pass a fixed or stepping clock.
using Clock = std::function<UnixSeconds()>;
UnixSeconds SystemNow();
Clock SystemClock();
// Whole seconds on the monotonic clock (from an arbitrary start), for durations: unlike the wall
// clock it never jumps when the system time is set.
int64_t MonotonicSeconds();

// The monotonic clock as of the kernel's last tick (CLOCK_MONOTONIC_COARSE: 1 to 4 ms behind), read
// in a fifth of steady_clock's time: for times checked against bounds of 100 ms and more (a
// connection's deadline, armed some four times a call and acted on at a sweep every 250 ms; the
// upstream pool's idle times).
struct CoarseClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<CoarseClock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept;
};

// "2026-11-28T10:00:00.000Z", as JavaScript's toISOString writes it: a year outside 0000-9999 has
// a sign and six digits or more ("+010000-01-01T00:00:00.000Z").
std::string FormatIso8601(UnixSeconds t);
// The UTC date of `t`, "2026-11-28": the date FormatIso8601 writes (every settled call names its day).
std::string FormatDay(UnixSeconds t);

// Milliseconds since the Unix epoch, for records that need finer times than seconds.
using UnixMillis = int64_t;
UnixMillis SystemNowMillis();
// "2026-11-28T10:00:00.123Z".
std::string FormatIso8601Millis(UnixMillis t);
// An ISO 8601 date ("2026-11-28", midnight UTC) or UTC date-time with optional fraction and a `Z`
// or numeric offset ("2026-11-28T10:00:00Z", "2026-11-28T11:00:00.5+01:00"); none when malformed.
std::optional<UnixMillis> ParseIso8601Millis(std::string_view text);

}  // namespace ap
