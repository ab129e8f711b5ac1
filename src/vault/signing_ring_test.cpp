#include "vault/signing_ring.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "crypto/jws.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace ap::vault {
namespace {

class SigningRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ap-ring-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    store_ = store::OpenSqliteStore(dir_ / "aipassport.db").value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  store::SigningKeyStore& Ring() { return store_->SigningKeys(); }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  MasterKey master_ = NewMasterKey();
};

TEST_F(SigningRingTest, TheFirstStartMakesOneKeyAndStoresItsPrivateHalfOnlySealed) {
  auto opened = OpenSigningKeys(master_, Ring(), dir_).value();
  EXPECT_TRUE(opened.created);
  ASSERT_EQ(opened.keys.size(), 1u);
  const crypto::SigningKey& key = opened.keys[0];
  auto records = Ring().ListSigningKeys().value();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].kid, key.kid);
  EXPECT_EQ(opened.records, records) << "the rows the keys were opened from, which the broker compares at reloads";
  EXPECT_EQ(records[0].master_id, master_.Id());
  EXPECT_EQ(records[0].created_at, 0) << "older than any rotation, even one the same second";
  std::string pem = key.key.PrivatePem();
  std::string body = pem.substr(pem.find('\n') + 1, 40);  // base64 of the private key
  for (const std::string* column : {&records[0].sealed, &records[0].wrapped_data_key, &records[0].public_jwk})
    EXPECT_EQ(column->find(body), std::string::npos);
  EXPECT_EQ(records[0].public_jwk.find("\"d\""), std::string::npos);
  EXPECT_NE(records[0].public_jwk.find(key.kid), std::string::npos);
  EXPECT_EQ(::access((dir_ / "signing-key.pem").c_str(), F_OK), -1) << "no key file any more";

  auto again = OpenSigningKeys(master_, Ring(), dir_).value();
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.records, records) << "a ring already there: its rows too";
  ASSERT_EQ(again.keys.size(), 1u);
  EXPECT_EQ(again.keys[0].kid, key.kid);
  EXPECT_EQ(again.keys[0].key.Sign("x"), key.key.Sign("x")) << "the same private key";
}

TEST_F(SigningRingTest, TheRingOpensOnlyUnderItsMasterKeyAndEachKeyOnlyInItsOwnRow) {
  ASSERT_TRUE(OpenSigningKeys(master_, Ring(), dir_));
  auto other = UnsealSigningKeys(NewMasterKey(), Ring().ListSigningKeys().value());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kValidation);

  // A sealed key copied into a row under another kid does not open there.
  auto record = Ring().ListSigningKeys().value()[0];
  crypto::SigningKey planted = crypto::SigningKeyRing::NewKey(1500);
  record.kid = planted.kid;
  record.created_at = 1500;
  ASSERT_TRUE(Ring().AddSigningKey(record, store::OlderKeys::kKeep));
  auto read = UnsealSigningKeys(master_, Ring().ListSigningKeys().value());
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::kValidation);
}

TEST_F(SigningRingTest, AnOlderVersionsKeyFilesAreImportedOnceAndThenNoLongerRead) {
  auto write = [](const std::filesystem::path& path) {
    std::filesystem::create_directories(path.parent_path());
    crypto::Ed25519Key key = crypto::Ed25519Key::Generate();
    std::ofstream(path) << key.PrivatePem();
    ::chmod(path.c_str(), 0600);
    return crypto::JwkThumbprint(key);
  };
  std::string first = write(dir_ / "signing-key.pem");
  std::string rotated = write(dir_ / "signing-keys" / "900.pem");
  auto opened = OpenSigningKeys(master_, Ring(), dir_).value();
  EXPECT_EQ(opened.imported, 2u);
  EXPECT_FALSE(opened.created);
  ASSERT_EQ(opened.keys.size(), 2u);
  EXPECT_EQ(opened.keys[0].kid, first);
  EXPECT_EQ(opened.keys[1].kid, rotated);
  EXPECT_EQ(opened.keys[1].created_at, 900);

  write(dir_ / "signing-keys" / "950.pem");  // a file written after the import is not taken in
  auto later = OpenSigningKeys(master_, Ring(), dir_).value();
  EXPECT_EQ(later.imported, 0u);
  EXPECT_EQ(later.keys.size(), 2u);
}

TEST_F(SigningRingTest, ARotationIsAddedToTheRingAndToTheChangeFeed) {
  ASSERT_TRUE(OpenSigningKeys(master_, Ring(), dir_));
  int64_t before = store_->Changes().LastChange().value();
  auto added = AddSigningKey(master_, Ring(), 2000, store::OlderKeys::kKeep).value();
  auto changes = store_->Changes().ChangesAfter(before, 10).value();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, "signing_keys");
  EXPECT_EQ(changes[0].subject, added.kid);
  auto keys = UnsealSigningKeys(master_, Ring().ListSigningKeys().value()).value();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[1].kid, added.kid);
}

TEST_F(SigningRingTest, AMasterKeyRotationRewrapsTheSigningKeysWithTheProviderKeys) {
  ASSERT_TRUE(OpenSigningKeys(master_, Ring(), dir_));
  ASSERT_TRUE(AddSigningKey(master_, Ring(), 2000, store::OlderKeys::kKeep));
  MasterKey next = NewMasterKey();
  auto rewrapped = RewrapSigningKeys(master_, next, Ring()).value();
  ASSERT_EQ(rewrapped.size(), 2u);
  // Leaving one signing key out changes nothing.
  auto partial = store_->Keys().Rewrap({}, {rewrapped[0]}, "", master_.Id(), next.Id());
  ASSERT_FALSE(partial);
  EXPECT_EQ(partial.error().code, Errc::kUnavailable);
  ASSERT_TRUE(UnsealSigningKeys(master_, Ring().ListSigningKeys().value()));
  ASSERT_TRUE(store_->Keys().Rewrap({}, rewrapped, "", master_.Id(), next.Id()));
  EXPECT_EQ(UnsealSigningKeys(next, Ring().ListSigningKeys().value()).value().size(), 2u);
  EXPECT_FALSE(UnsealSigningKeys(master_, Ring().ListSigningKeys().value()));
  // A broker still on the old master key cannot add a key nobody else could open.
  auto stale = AddSigningKey(master_, Ring(), 3000, store::OlderKeys::kKeep);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::kUnavailable);
}

}  // namespace
}  // namespace ap::vault
