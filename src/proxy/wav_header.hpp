#pragma once
// How many bytes a second of audio takes in a WAV file (RIFF/WAVE), read from the file's first
// bytes: an upload of audio stored at a fixed size a sample cannot hold more seconds than its
// bytes over that, whatever its header's lengths say. worst_case.hpp reserves such an upload by
// it, where any other is reserved by its size at the lowest usual bitrate.

#include <cstdint>
#include <optional>
#include <string_view>

namespace ap::proxy {

// The first bytes of an upload this many long are enough for the usual WAV file's header: the
// "data" chunk follows "fmt " and at most some kilobytes of others (LIST, bext).
inline constexpr size_t kWavHeadBytes = 16 << 10;

// The bytes a second of audio takes in the WAV file that starts with `head`: sample rate x
// channels x bytes a sample, for samples of a fixed size (PCM of 8, 16, 24 or 32 bits, IEEE float
// of 32 or 64, A-law or mu-law of 8, also as WAVE_FORMAT_EXTENSIBLE). nullopt for anything else: not
// RIFF/WAVE, a compressed format, no "data" chunk within `head`, or two "fmt " chunks before it
// (readers differ on which counts).
std::optional<uint64_t> WavBytesPerSecond(std::string_view head);

}  // namespace ap::proxy
