#pragma once
// Wall-clock time as whole seconds since the Unix epoch, an injectable clock, and the
// ISO 8601 text form the reference API uses ("2026-11-28T10:00:00.000Z").

#include <cstdint>
#include <functional>
#include <string>

namespace ap {

using UnixSeconds = int64_t;

// Thread-safe: a plain function object; tests pass a fixed or stepping clock.
using Clock = std::function<UnixSeconds()>;
UnixSeconds SystemNow();
Clock SystemClock();

std::string FormatIso8601(UnixSeconds t);

}  // namespace ap
