#include "proxy/wav_header.hpp"

namespace ap::proxy {
namespace {

uint16_t Le16(std::string_view s, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(s[at]) | static_cast<unsigned char>(s[at + 1]) << 8);
}

uint32_t Le32(std::string_view s, size_t at) {
  return static_cast<uint32_t>(Le16(s, at)) | static_cast<uint32_t>(Le16(s, at + 2)) << 16;
}

constexpr uint16_t kPcm = 1, kFloat = 3, kALaw = 6, kMuLaw = 7, kExtensible = 0xFFFE;
// The 14 bytes that follow the format tag in a KSDATAFORMAT_SUBTYPE GUID
// ({tag-0000-0010-8000-00aa00389b71}, as Windows writes it: little-endian fields).
constexpr std::string_view kSubtypeTail("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14);

// The format tag of a "fmt " chunk's `body`, the subformat's for WAVE_FORMAT_EXTENSIBLE; 0 when it
// cannot be told.
uint16_t FormatTag(std::string_view body) {
  uint16_t tag = Le16(body, 0);
  if (tag != kExtensible) return tag;
  if (body.size() < 40 || body.substr(26, 14) != kSubtypeTail) return 0;
  return Le16(body, 24);
}

// Whether samples of `tag` and `bits` are stored at a fixed size of bits / 8 bytes.
bool FixedSize(uint16_t tag, uint16_t bits) {
  switch (tag) {
    case kPcm:
      return bits == 8 || bits == 16 || bits == 24 || bits == 32;
    case kFloat:
      return bits == 32 || bits == 64;
    case kALaw:
    case kMuLaw:
      return bits == 8;
    default:
      return false;
  }
}

// The fewest bits a reader may take a sample of `bits` in the "fmt " chunk `body` to be: FFmpeg
// reads WAVE_FORMAT_EXTENSIBLE's valid bits as the sample's size (8 valid bits in a 32-bit container
// decode as 8-bit samples, four times as many seconds).
uint16_t SampleBits(std::string_view body, uint16_t bits) {
  if (Le16(body, 0) != kExtensible) return bits;
  uint16_t valid = Le16(body, 18);
  return valid > 0 && valid < bits ? valid : bits;
}

}  // namespace

std::optional<uint64_t> WavBytesPerSecond(std::string_view head) {
  if (head.size() < 12 || head.substr(0, 4) != "RIFF" || head.substr(8, 4) != "WAVE") return std::nullopt;
  std::optional<uint64_t> rate;
  bool seen_fmt = false;
  // Chunks: a four-letter id, a 32-bit length, the body, a pad byte after an odd length.
  for (size_t at = 12; at + 8 <= head.size();) {
    std::string_view id = head.substr(at, 4);
    uint64_t size = Le32(head, at + 4), body_at = at + 8;
    if (id == "data") return rate;
    if (body_at + size > head.size()) return std::nullopt;  // "data" is not within the head
    if (id == "fmt ") {
      if (seen_fmt || size < 16) return std::nullopt;
      seen_fmt = true;
      std::string_view body = head.substr(body_at, size);
      uint16_t channels = Le16(body, 2), bits = Le16(body, 14);
      uint32_t samples = Le32(body, 4);
      if (channels > 0 && samples > 0 && FixedSize(FormatTag(body), bits))
        rate = uint64_t{samples} * channels * ((SampleBits(body, bits) + 7) / 8);  // < 2^32 x 2^16 x 8: no overflow
    }
    at = body_at + size + (size & 1);
  }
  return std::nullopt;
}

}  // namespace ap::proxy
