#include "crypto/signing_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

namespace ap::crypto {
namespace {

class SigningKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ap-keys-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(SigningKeysTest, CreatesAPrivateKeyFileOnceAndReloadsIt) {
  auto first = SigningKeyRing::LoadOrCreate(dir_).value();
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "signing-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = SigningKeyRing::LoadOrCreate(dir_).value();
  EXPECT_EQ(first.Current().kid, second.Current().kid);
  EXPECT_NE(second.Find(first.Current().kid), nullptr);
  EXPECT_EQ(second.Find("unknown"), nullptr);
}

TEST_F(SigningKeysTest, RefusesAKeyFileOthersCanRead) {
  ASSERT_TRUE(SigningKeyRing::LoadOrCreate(dir_));
  std::filesystem::permissions(dir_ / "signing-key.pem", std::filesystem::perms::owner_read |
                                                             std::filesystem::perms::owner_write |
                                                             std::filesystem::perms::others_read);
  auto ring = SigningKeyRing::LoadOrCreate(dir_);
  ASSERT_FALSE(ring);
  EXPECT_NE(ring.error().message.find("chmod 600"), std::string::npos);
}

TEST_F(SigningKeysTest, JwksPublishesOnlyThePublicHalf) {
  auto ring = SigningKeyRing::LoadOrCreate(dir_).value();
  auto jwks = ring.Jwks();
  const auto& key = jwks.at("keys").as_array().at(0).as_object();
  EXPECT_EQ(key.at("kid").as_string(), ring.Current().kid);
  EXPECT_EQ(key.at("alg").as_string(), "EdDSA");
  EXPECT_FALSE(key.contains("d"));
}

TEST_F(SigningKeysTest, ANewKeyIsPublishedBeforeItSignsAndTheOldOneVerifiesUntilItsTokensExpire) {
  RotationTimes times{600, 3700};
  auto before = SigningKeyRing::LoadOrCreate(dir_, 1000, times).value();
  auto added = SigningKeyRing::AddKey(dir_, 2000).value();
  auto published = SigningKeyRing::LoadOrCreate(dir_, 2000, times).value();
  EXPECT_EQ(published.Current().kid, before.Current().kid) << "the new key does not sign yet";
  EXPECT_NE(published.Find(added.kid), nullptr) << "but it is published";
  EXPECT_EQ(published.Jwks().at("keys").as_array().size(), 2u);
  auto switched = SigningKeyRing::LoadOrCreate(dir_, 2600, times).value();
  EXPECT_EQ(switched.Current().kid, added.kid);
  EXPECT_NE(switched.Find(before.Current().kid), nullptr) << "the old key still verifies its tokens";
  auto later = SigningKeyRing::LoadOrCreate(dir_, 2600 + 3700 + 1, times).value();
  EXPECT_EQ(later.Current().kid, added.kid);
  EXPECT_EQ(later.Find(before.Current().kid), nullptr) << "retired once its tokens have expired";
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

}  // namespace
}  // namespace ap::crypto
