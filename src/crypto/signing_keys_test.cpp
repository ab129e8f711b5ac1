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

}  // namespace
}  // namespace ap::crypto
