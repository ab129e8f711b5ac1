// The WAV header reader that sizes an upload's reservation by its audio's bytes a second.
#include "proxy/wav_header.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ap::proxy {
namespace {

std::string Le16(uint16_t v) { return {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)}; }
std::string Le32(uint32_t v) { return Le16(static_cast<uint16_t>(v & 0xFFFF)) + Le16(static_cast<uint16_t>(v >> 16)); }
std::string Chunk(std::string_view id, std::string_view body) {
  return std::string(id) + Le32(static_cast<uint32_t>(body.size())) + std::string(body) +
         std::string(body.size() % 2, '\0');
}
// A "fmt " chunk's body: tag, channels, sample rate, bytes a second (as written, never read),
// block size, bits a sample.
std::string Fmt(uint16_t tag, uint16_t channels, uint32_t rate, uint16_t bits) {
  return Le16(tag) + Le16(channels) + Le32(rate) + Le32(rate * channels * bits / 8) +
         Le16(static_cast<uint16_t>(channels * bits / 8)) + Le16(bits);
}
// WAVE_FORMAT_EXTENSIBLE around `subformat`, with `tail` as the GUID's last 14 bytes.
std::string Extensible(uint16_t subformat, uint16_t channels, uint32_t rate, uint16_t bits,
                       std::string tail = std::string("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14),
                       uint16_t valid_bits = 0) {
  return Fmt(0xFFFE, channels, rate, bits) + Le16(22) + Le16(valid_bits ? valid_bits : bits) + Le32(3) +
         Le16(subformat) + tail;
}
std::string Wav(std::string chunks) { return "RIFF" + Le32(0xFFFFFFFF) + "WAVE" + chunks; }
std::string Data() { return "data" + Le32(123456) + std::string(64, '\0'); }

TEST(WavHeaderTest, FixedSizeSamplesTellTheirBytesASecond) {
  EXPECT_EQ(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(1, 1, 16000, 16)) + Data())), 32000u);
  EXPECT_EQ(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(1, 2, 44100, 24)) + Data())), 264600u);
  EXPECT_EQ(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(3, 1, 48000, 64)) + Data())), 384000u);
  EXPECT_EQ(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(7, 1, 8000, 8)) + Data())), 8000u);
  EXPECT_EQ(WavBytesPerSecond(Wav(Chunk("fmt ", Extensible(1, 6, 48000, 32)) + Data())), 1152000u);
  // FFmpeg reads 8 valid bits in a 32-bit container as 8-bit samples: four times the seconds.
  std::string tail("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14);
  EXPECT_EQ(WavBytesPerSecond(Wav(Chunk("fmt ", Extensible(1, 1, 10, 32, tail, 8)) + Data())), 10u);
  EXPECT_EQ(WavBytesPerSecond(Wav(Chunk("fmt ", Extensible(1, 1, 10, 24, tail, 20)) + Data())), 30u);
  // Audio far denser than speech is usually sent at: 10 bytes a second, 6,000 seconds in 60 kB.
  EXPECT_EQ(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(1, 1, 10, 8)) + Data())), 10u);
  // Other chunks first (odd lengths padded), and the largest numbers a header holds.
  EXPECT_EQ(WavBytesPerSecond(
                Wav(Chunk("LIST", "INFOabc") + Chunk("fmt ", Fmt(1, 1, 8000, 8)) + Chunk("bext", "x") + Data())),
            8000u);
  EXPECT_EQ(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(3, 65535, 0xFFFFFFFF, 64)) + Data())),
            uint64_t{0xFFFFFFFF} * 65535 * 8);
}

TEST(WavHeaderTest, AnythingElseIsNotKnown) {
  std::string fmt = Chunk("fmt ", Fmt(1, 1, 16000, 16));
  EXPECT_FALSE(WavBytesPerSecond(""));
  EXPECT_FALSE(WavBytesPerSecond("OggS" + std::string(100, '\0')));
  EXPECT_FALSE(WavBytesPerSecond("RIFX" + Le32(100) + "WAVE" + fmt + Data()));  // big-endian
  EXPECT_FALSE(WavBytesPerSecond("RF64" + Le32(100) + "WAVE" + fmt + Data()));
  EXPECT_FALSE(WavBytesPerSecond("RIFF" + Le32(100) + "AVI " + fmt + Data()));
  EXPECT_FALSE(WavBytesPerSecond(Wav(Data())));        // no format
  EXPECT_FALSE(WavBytesPerSecond(Wav(Data() + fmt)));  // the format after the samples
  EXPECT_FALSE(WavBytesPerSecond(Wav(fmt)));           // no "data" within the head
  EXPECT_FALSE(WavBytesPerSecond(Wav(fmt + Chunk("LIST", std::string(50, 'x'))).substr(0, 70)));     // cut short
  EXPECT_FALSE(WavBytesPerSecond(Wav(fmt + Chunk("fmt ", Fmt(1, 1, 10, 8)) + Data())));              // two formats
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(1, 1, 16000, 16).substr(0, 14)) + Data())));  // too short
  // Compressed, or samples of a size readers round differently.
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(2, 1, 16000, 4)) + Data())));     // MS ADPCM
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(0x55, 1, 16000, 0)) + Data())));  // MP3
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(1, 1, 16000, 12)) + Data())));
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(3, 1, 16000, 16)) + Data())));
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(1, 0, 16000, 16)) + Data())));  // no channel
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Fmt(1, 1, 0, 16)) + Data())));      // no sample rate
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Extensible(2, 1, 16000, 16)) + Data())));
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Extensible(1, 1, 16000, 16, std::string(14, 'x'))) + Data())));
  EXPECT_FALSE(WavBytesPerSecond(Wav(Chunk("fmt ", Extensible(1, 1, 16000, 16).substr(0, 30)) + Data())));
  // A chunk whose length runs past the head hides what follows it.
  EXPECT_FALSE(WavBytesPerSecond(Wav("LIST" + Le32(0xFFFFFFF0) + fmt + Data())));
}

// Every way of cutting a valid header short is unknown, never a wrong number or a read past the end.
TEST(WavHeaderTest, AHeaderCutAnywhereIsUnknown) {
  std::string whole = Wav(Chunk("LIST", "INFOabc") + Chunk("fmt ", Extensible(1, 2, 44100, 16)) + "data" + Le32(4));
  ASSERT_EQ(WavBytesPerSecond(whole), 176400u);
  for (size_t n = 0; n < whole.size(); ++n) EXPECT_FALSE(WavBytesPerSecond(whole.substr(0, n))) << n;
}

}  // namespace
}  // namespace ap::proxy
