#pragma once
// How many bytes a second of audio takes in a WAV file (RIFF/WAVE), as its header says, read from
// the file's first bytes. It can only raise an upload's reservation (worst_case.hpp), never lower
// it: a header can lie (a decoder such as FFmpeg probes what follows a 16-bit PCM header, and may
// find compressed audio far denser), but audio of 8-bit samples at 10 a second is as dense as its
// header says, and far denser than the lowest usual bitrate an upload is otherwise reserved at.

#include <cstdint>
#include <optional>
#include <string_view>

namespace ap::proxy {

// The first bytes of an upload this many long are enough for the usual WAV file's header: the
// "data" chunk follows "fmt " and at most some kilobytes of others (LIST, bext).
inline constexpr size_t kWavHeadBytes = 16 << 10;

// The bytes a second of audio takes in the WAV file that starts with `head`: sample rate x
// channels x bytes a sample, for samples of a fixed size (PCM of 8, 16, 24 or 32 bits, IEEE float
// of 32 or 64, A-law or mu-law of 8, also as WAVE_FORMAT_EXTENSIBLE, whose valid bits count where
// fewer). nullopt for anything else: not
// RIFF/WAVE, a compressed format, no "data" chunk within `head`, or two "fmt " chunks before it
// (readers differ on which counts).
std::optional<uint64_t> WavBytesPerSecond(std::string_view head);

}  // namespace ap::proxy
