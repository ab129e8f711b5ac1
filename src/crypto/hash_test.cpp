#include "crypto/hash.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace ap::crypto {
namespace {

TEST(Sha256, MatchesFips180Vector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("abc").size(), 32u);
}

// Each thread reuses one context: a hash must not carry anything over from the one before it,
// whatever its length, on any thread.
TEST(Sha256, EachHashStartsAfreshOnEveryThread) {
  constexpr const char* kTwoBlocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  constexpr const char* kTwoBlocksHex = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
  constexpr const char* kEmptyHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  auto hash_in_turn = [&] {
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(Sha256Hex(kTwoBlocks), kTwoBlocksHex);
      EXPECT_EQ(Sha256Hex(""), kEmptyHex);
      EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(hash_in_turn);
  hash_in_turn();
  for (auto& thread : threads) thread.join();
}

TEST(HmacSha256, MatchesRfc4231Case2) {
  std::string mac = HmacSha256("Jefe", "what do ya want for nothing?");
  std::string hex;
  for (unsigned char c : mac) hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15];
  EXPECT_EQ(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEqual("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEqual("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEqual("secret", "secret2"));
  EXPECT_TRUE(ConstantTimeEqual("", ""));
}

}  // namespace
}  // namespace ap::crypto
