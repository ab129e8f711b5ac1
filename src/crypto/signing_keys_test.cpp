#include "crypto/signing_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "crypto/jws.hpp"

namespace ap::crypto {
namespace {

class SigningKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ap-keys-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A key file as an older version wrote it.
  Ed25519Key WriteKeyFile(const std::filesystem::path& path, unsigned mode = 0600) {
    std::filesystem::create_directories(path.parent_path());
    Ed25519Key key = Ed25519Key::Generate();
    std::ofstream(path) << key.PrivatePem();
    ::chmod(path.c_str(), mode);
    return key;
  }

  std::filesystem::path dir_;
};

TEST_F(SigningKeysTest, ANewKeyIsNamedByItsThumbprint) {
  SigningKey key = SigningKeyRing::NewKey(1234);
  EXPECT_EQ(key.kid, JwkThumbprint(key.key));
  EXPECT_EQ(key.created_at, 1234);
  EXPECT_NE(SigningKeyRing::NewKey(1234).kid, key.kid);
}

TEST_F(SigningKeysTest, ReadsTheKeyFilesOfAnOlderVersion) {
  EXPECT_TRUE(SigningKeyRing::ReadKeyFiles(dir_).value().empty());
  EXPECT_FALSE(SigningKeyRing::HasKeyFiles(dir_));
  Ed25519Key first = WriteKeyFile(dir_ / "signing-key.pem");
  Ed25519Key rotated = WriteKeyFile(dir_ / "signing-keys" / "5000.pem");
  WriteKeyFile(dir_ / "signing-keys" / "notes.pem");  // not one of ours
  EXPECT_TRUE(SigningKeyRing::HasKeyFiles(dir_));
  auto keys = SigningKeyRing::ReadKeyFiles(dir_).value();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].kid, JwkThumbprint(first));
  EXPECT_EQ(keys[0].created_at, 0);
  EXPECT_EQ(keys[1].kid, JwkThumbprint(rotated));
  EXPECT_EQ(keys[1].created_at, 5000);
}

TEST_F(SigningKeysTest, RefusesAKeyFileOthersCanRead) {
  WriteKeyFile(dir_ / "signing-key.pem", 0604);
  auto keys = SigningKeyRing::ReadKeyFiles(dir_);
  ASSERT_FALSE(keys);
  EXPECT_NE(keys.error().message.find("chmod 600"), std::string::npos);
}

TEST_F(SigningKeysTest, JwksPublishesOnlyThePublicHalf) {
  auto ring = SigningKeyRing::FromKeys({SigningKeyRing::NewKey(0)});
  auto jwks = ring.Jwks();
  const auto& key = jwks.at("keys").as_array().at(0).as_object();
  EXPECT_EQ(key.at("kid").as_string(), ring.Current().kid);
  EXPECT_EQ(key.at("alg").as_string(), "EdDSA");
  EXPECT_FALSE(key.contains("d"));
  EXPECT_NE(ring.Find(ring.Current().kid), nullptr);
  EXPECT_EQ(ring.Find("unknown"), nullptr);
}

TEST_F(SigningKeysTest, ANewKeyIsPublishedBeforeItSignsAndTheOldOneVerifiesUntilItsTokensExpire) {
  RotationTimes times{600, 3700};
  SigningKey old_key = SigningKeyRing::NewKey(1000);
  SigningKey added = SigningKeyRing::NewKey(2000);
  auto ring_at = [&](int64_t now) { return SigningKeyRing::FromKeys(SigningKeyRing::Choose({old_key, added}, now, times)); };
  auto published = ring_at(2000);
  EXPECT_EQ(published.Current().kid, old_key.kid) << "the new key does not sign yet";
  EXPECT_NE(published.Find(added.kid), nullptr) << "but it is published";
  EXPECT_EQ(published.Jwks().at("keys").as_array().size(), 2u);
  auto switched = ring_at(2600);
  EXPECT_EQ(switched.Current().kid, added.kid);
  EXPECT_NE(switched.Find(old_key.kid), nullptr) << "the old key still verifies its tokens";
  auto later = ring_at(2600 + 3700 + 1);
  EXPECT_EQ(later.Current().kid, added.kid);
  EXPECT_EQ(later.Find(old_key.kid), nullptr) << "retired once its tokens have expired";
}

TEST_F(SigningKeysTest, ChooseSignsWithTheNewestPublishedKey) {
  auto key = [](int64_t created) { return SigningKey{std::to_string(created), Ed25519Key::Generate(), created}; };
  std::vector<SigningKey> keys;
  keys.push_back(key(3000));
  keys.push_back(key(0));
  keys.push_back(key(1000));
  auto chosen = SigningKeyRing::Choose(std::move(keys), 3100, {600, 100});
  ASSERT_EQ(chosen.size(), 2u);
  EXPECT_EQ(chosen[0].kid, "1000") << "3000 is still being published";
  EXPECT_EQ(chosen[1].kid, "3000") << "key 0 stopped at 1600 and verified until 1700";
}

TEST_F(SigningKeysTest, KeysMadeTheSameSecondAreChosenAlikeInAnyOrder) {
  SigningKey a{"a", Ed25519Key::Generate(), 1000};
  SigningKey b{"b", Ed25519Key::Generate(), 1000};
  EXPECT_EQ(SigningKeyRing::Choose({a, b}, 5000, {}).front().kid, "b");
  EXPECT_EQ(SigningKeyRing::Choose({b, a}, 5000, {}).front().kid, "b");
}

}  // namespace
}  // namespace ap::crypto
