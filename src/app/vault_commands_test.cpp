#include "app/vault_commands.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "app/admin_token.hpp"
#include "app/broker.hpp"
#include "core/ids.hpp"
#include "store/forwarding_store.hpp"
#include "vault/sealing.hpp"

namespace ap::app {
namespace {

namespace fs = std::filesystem;

// A store whose keys gain one more (sealed under the master key they are under now) just before
// the first re-wrap is written: what a broker or another command adding a key during
// `rotate-master` does.
class KeyAddedDuringRewrap : public store::KeyStore {
 public:
  KeyAddedDuringRewrap(store::KeyStore& keys, store::ProviderKeyRecord added) : keys_(keys), added_(std::move(added)) {}

  Result<std::optional<std::string>> PutKey(const store::ProviderKeyRecord& key) override { return keys_.PutKey(key); }
  Result<std::vector<store::ProviderKeyRecord>> ListKeys(std::optional<std::string_view> owner_id) override {
    return keys_.ListKeys(owner_id);
  }
  Result<store::ProviderKeyRecord> GetKey(std::string_view id) override { return keys_.GetKey(id); }
  Status DeleteKey(std::string_view id) override { return keys_.DeleteKey(id); }
  Status MarkKeysUsed(const std::vector<std::string>& ids, UnixSeconds at) override {
    return keys_.MarkKeysUsed(ids, at);
  }
  Result<int64_t> Version() override { return keys_.Version(); }
  Result<std::optional<std::string>> MasterKeyId() override { return keys_.MasterKeyId(); }
  Result<std::string> WrappedAuditKey(std::string_view wrapped_if_none, std::string_view master_id) override {
    return keys_.WrappedAuditKey(wrapped_if_none, master_id);
  }
  Status Rewrap(const std::vector<store::RewrappedKey>& keys, const std::vector<store::RewrappedKey>& signing_keys,
                std::string_view audit_key, std::string_view old_master_id, std::string_view new_master_id) override {
    if (++rewraps == 1) {
      EXPECT_TRUE(keys_.PutKey(added_));
    }
    return keys_.Rewrap(keys, signing_keys, audit_key, old_master_id, new_master_id);
  }

  int rewraps = 0;

 private:
  store::KeyStore& keys_;
  store::ProviderKeyRecord added_;
};

class RacedStore : public store::ForwardingStore {
 public:
  RacedStore(store::Store& store, KeyAddedDuringRewrap& keys) : ForwardingStore(store), keys_(keys) {}
  store::KeyStore& Keys() override { return keys_; }

 private:
  KeyAddedDuringRewrap& keys_;
};

store::ProviderKeyRecord SealedKey(const vault::MasterKey& master, const std::string& owner_id,
                                   const std::string& provider, const std::string& secret) {
  store::ProviderKeyRecord record;
  record.id = RandomUuid();
  record.owner_id = owner_id;
  record.provider = provider;
  record.label = "default";
  record.hint = secret.substr(secret.size() - 4);
  record.created_at = 1;
  vault::Seal(master, secret, record);
  return record;
}

// A data directory of its own (master keys in it), removed whatever the test's outcome.
class RotateMasterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string path = (fs::temp_directory_path() / "ap-rotate-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(path.data()), nullptr);
    dir = path;
  }
  void TearDown() override { fs::remove_all(dir); }

  fs::path dir;
};

TEST_F(RotateMasterTest, AKeyAddedDuringTheRotationIsReadAgainAndRewrappedWithTheRest) {
  ASSERT_TRUE(PrepareDataDir(dir));
  Config config;
  config.data_dir = dir;
  config.master_key_file = dir / "master.key";
  auto store = OpenConfiguredStore(config);
  ASSERT_TRUE(store) << store.error().message;
  auto owner = EnsureOperatorAccount(**store, 1);
  ASSERT_TRUE(owner);
  auto old_master = vault::LoadMasterKey({std::nullopt, config.master_key_file}, true);
  ASSERT_TRUE(old_master);
  ASSERT_TRUE((*store)->Keys().PutKey(SealedKey(*old_master, owner->id, "openai", "sk-first-key-1111")));

  KeyAddedDuringRewrap keys((*store)->Keys(), SealedKey(*old_master, owner->id, "anthropic", "sk-ant-added-2222"));
  RacedStore raced(**store, keys);
  VaultCommand command;
  command.action = "rotate-master";
  command.new_key_file = (dir / "new-master.key").string();
  EXPECT_EQ(RotateMaster(config, raced, command), 0);
  EXPECT_EQ(keys.rewraps, 2);  // the first write found the added key unlisted, and changed nothing

  auto new_master = vault::LoadMasterKey({std::nullopt, dir / "new-master.key"}, false);
  ASSERT_TRUE(new_master);
  EXPECT_EQ((*store)->Keys().MasterKeyId().value(), new_master->Id());
  auto stored = (*store)->Keys().ListKeys(std::nullopt).value();
  ASSERT_EQ(stored.size(), 2u);
  for (const auto& key : stored) {
    auto secret = vault::Unseal(*new_master, key);
    ASSERT_TRUE(secret) << key.provider;
    EXPECT_EQ(*secret, key.provider == "openai" ? "sk-first-key-1111" : "sk-ant-added-2222");
  }
}

}  // namespace
}  // namespace ap::app
