#pragma once
// Wall-clock time as whole seconds since the Unix epoch, an injectable clock, and the
// ISO 8601 text form the reference API uses ("2026-11-28T10:00:00.000Z").

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

std::string FormatIso8601(UnixSeconds t);
// Accepts what FormatIso8601 writes (with or without milliseconds).
std::optional<UnixSeconds> ParseIso8601(std::string_view text);

}  // namespace ap
