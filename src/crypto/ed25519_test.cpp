#include "crypto/ed25519.hpp"

#include <gtest/gtest.h>

#include "crypto/test_vectors.hpp"

namespace ap::crypto {
namespace {

using vectors::FromHex;

TEST(Ed25519, SignsAndVerifiesAfterPemRoundTrip) {
  Ed25519Key key = Ed25519Key::Generate();
  auto reloaded = Ed25519Key::FromPrivatePem(key.PrivatePem()).value();
  EXPECT_EQ(reloaded.PublicRaw(), key.PublicRaw());
  std::string sig = reloaded.Sign("hello");
  EXPECT_TRUE(key.Verify("hello", sig));
  EXPECT_FALSE(key.Verify("hellO", sig));
  EXPECT_FALSE(Ed25519Key::Generate().Verify("hello", sig));
}

TEST(Ed25519, RejectsWrongSizedKeysAndGarbagePem) {
  EXPECT_FALSE(Ed25519Key::FromPrivateRaw("short"));
  EXPECT_FALSE(Ed25519Key::FromPublicRaw(std::string(31, 'a')));
  EXPECT_FALSE(Ed25519Key::FromPrivatePem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
}

// Every Wycheproof EdDSA case: valid ones verify, invalid ones (malleable, non-canonical,
// truncated signatures...) are refused.
TEST(Ed25519, PassesWycheproofVectors) {
  auto doc = vectors::LoadTestData("wycheproof/ed25519_test.json");
  int checked = 0;
  for (const auto& group : doc.at("testGroups").as_array()) {
    auto key = Ed25519Key::FromPublicRaw(FromHex(group.at("publicKey").at("pk").as_string()));
    ASSERT_TRUE(key);
    for (const auto& test : group.at("tests").as_array()) {
      bool valid = test.at("result").as_string() == "valid";
      bool verified = key->Verify(FromHex(test.at("msg").as_string()), FromHex(test.at("sig").as_string()));
      EXPECT_EQ(verified, valid) << "tcId " << test.at("tcId").as_int64() << " " << test.at("comment").as_string();
      ++checked;
    }
  }
  EXPECT_EQ(checked, 151);
}

}  // namespace
}  // namespace ap::crypto
