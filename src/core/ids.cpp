#include "core/ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <stdexcept>

#include "core/base64url.hpp"

namespace ap {
namespace {

void FillRandom(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("the system random generator failed");
}

}  // namespace

std::string RandomBytes(size_t bytes) {
  std::string raw(bytes, '\0');
  FillRandom(reinterpret_cast<unsigned char*>(raw.data()), raw.size());
  return raw;
}

std::string RandomToken(size_t bytes) { return Base64UrlEncode(RandomBytes(bytes)); }

int64_t RandomNumberId() {
  uint64_t n = 0;
  while (n == 0) {
    FillRandom(reinterpret_cast<unsigned char*>(&n), sizeof n);
    n >>= 1;
  }
  return static_cast<int64_t>(n);
}

std::string RandomCode(std::string_view alphabet, size_t length) {
  std::string out;
  size_t limit = 256 - 256 % alphabet.size();  // reject the tail that would favour the first letters
  while (out.size() < length) {
    unsigned char b;
    FillRandom(&b, 1);
    if (b < limit) out += alphabet[b % alphabet.size()];
  }
  return out;
}

std::string RandomUuid() {
  std::array<unsigned char, 16> b{};
  FillRandom(b.data(), b.size());
  b[6] = (b[6] & 0x0F) | 0x40;
  b[8] = (b[8] & 0x3F) | 0x80;
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

}  // namespace ap
