#include "vault/vault.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include "crypto/test_vectors.hpp"
#include "vault/sealing.hpp"

namespace ap::vault {
namespace {

using crypto::vectors::FromHex;

store::OwnerRecord Owner(std::string id, std::string name) { return {std::move(id), std::move(name), "", 0}; }

TEST(Sealing, LibsodiumsXChaCha20Poly1305PassesTheWycheproofVectors) {
  ASSERT_GE(sodium_init(), 0);
  auto data = crypto::vectors::LoadTestData("wycheproof/xchacha20_poly1305_test.json");
  int checked = 0;
  for (const auto& group : data.at("testGroups").as_array()) {
    for (const auto& test : group.at("tests").as_array()) {
      const auto& t = test.as_object();
      std::string key = FromHex(t.at("key").as_string()), iv = FromHex(t.at("iv").as_string());
      std::string aad = FromHex(t.at("aad").as_string()), msg = FromHex(t.at("msg").as_string());
      std::string sealed = FromHex(t.at("ct").as_string()) + FromHex(t.at("tag").as_string());
      bool valid = t.at("result").as_string() == "valid";
      if (key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES ||
          iv.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES) {
        EXPECT_FALSE(valid) << t.at("tcId").as_int64();  // sizes libsodium does not take are never valid
        continue;
      }
      std::string plain(sealed.size(), '\0');
      unsigned long long length = 0;
      auto u = [](const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); };
      int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &length,
                                                          nullptr, u(sealed), sealed.size(), u(aad), aad.size(),
                                                          u(iv), u(key));
      if (valid) {
        ASSERT_EQ(rc, 0) << t.at("tcId").as_int64();
        EXPECT_EQ(plain.substr(0, length), msg);
      } else {
        EXPECT_NE(rc, 0) << t.at("tcId").as_int64();
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 300);
}

TEST(Sealing, AKeyOpensOnlyUnderItsMasterKeyAndInItsOwnRow) {
  MasterKey master = NewMasterKey();
  Vault vault(master, "op", {});
  auto record = vault.Seal("k1", "alice", "openai", "personal", "sk-alice-0123456789abcdef", 100);
  EXPECT_EQ(record.hint, "cdef");
  EXPECT_EQ(record.master_id, master.Id());
  EXPECT_EQ(record.sealed.find("sk-alice"), std::string::npos);
  EXPECT_EQ(record.sealed.find("0123456789"), std::string::npos);
  auto opened = Unseal(master, record);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, "sk-alice-0123456789abcdef");

  EXPECT_FALSE(Unseal(NewMasterKey(), record));
  auto moved = record;
  moved.owner_id = "mallory";  // someone with the database moves Alice's key to their account
  EXPECT_FALSE(Unseal(master, moved));
  auto relabelled = record;
  relabelled.label = "team";
  EXPECT_FALSE(Unseal(master, relabelled));
  auto flipped = record;
  flipped.sealed[30] ^= 1;
  EXPECT_FALSE(Unseal(master, flipped));
}

TEST(Sealing, RewrappingMovesTheDataKeyToTheNewMasterKey) {
  MasterKey old_master = NewMasterKey(), new_master = NewMasterKey();
  Vault vault(old_master, "op", {});
  auto record = vault.Seal("k1", "alice", "openai", "personal", "sk-alice-0123456789abcdef", 100);
  auto wrapped = Rewrap(old_master, new_master, record);
  ASSERT_TRUE(wrapped);
  record.wrapped_data_key = *wrapped;
  EXPECT_FALSE(Unseal(old_master, record));
  auto opened = Unseal(new_master, record);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, "sk-alice-0123456789abcdef");
  EXPECT_FALSE(Rewrap(old_master, new_master, record));  // not under the old key any more
}

TEST(Vault, EachGrantSpendsItsOwnersKeyUnderItsLabel) {
  MasterKey master = NewMasterKey();
  Vault vault(master, "op", {});
  auto alice = vault.Seal("k1", "alice", "openai", "personal", "sk-alice-personal-000000", 1);
  auto team = vault.Seal("k2", "alice", "openai", "team", "sk-alice-team-0000000000", 1);
  auto bob = vault.Seal("k3", "bob", "openai", "personal", "sk-bob-personal-00000000", 1);
  vault.Load({alice, team, bob}, {Owner("alice", "alice"), Owner("bob", "bob")});
  ASSERT_TRUE(vault.Find("alice", "openai", "team"));
  EXPECT_EQ(vault.Find("alice", "openai", "team")->secret, "sk-alice-team-0000000000");
  EXPECT_EQ(vault.Find("bob", "openai", "personal")->secret, "sk-bob-personal-00000000");
  EXPECT_FALSE(vault.Find("bob", "openai", "team"));  // Alice's team key is never Bob's
  EXPECT_FALSE(vault.Find("alice", "anthropic", "personal"));
  EXPECT_EQ(vault.Labels("alice", "openai"), (std::vector<std::string>{"personal", "team"}));

  vault.Remove("k2");
  EXPECT_FALSE(vault.Find("alice", "openai", "team"));
  auto rotated = vault.Seal("k4", "alice", "openai", "personal", "sk-alice-rotated-0000000", 2);
  vault.Put(rotated, "sk-alice-rotated-0000000");
  EXPECT_EQ(vault.Find("alice", "openai", "personal")->secret, "sk-alice-rotated-0000000");
}

// An environment key may be any length: the owner is shown nothing of a short one, whose last four
// characters would be half of it or all of it.
TEST(Vault, AKeyIsHintedByItsLastFourCharactersOnlyIfItIsLongEnough) {
  EXPECT_EQ(KeyHint("sk-proj-0123456789abcdef"), "cdef");
  EXPECT_EQ(KeyHint("0123456789abcdef"), "cdef");
  EXPECT_EQ(KeyHint("0123456789abcde"), "");
  EXPECT_EQ(KeyHint("abcd"), "");
  EXPECT_EQ(KeyHint(""), "");
  Vault vault(NewMasterKey(), "op", {});
  EXPECT_EQ(vault.Seal("k1", "alice", "openai", "personal", "sk-alice-0123456789", 0).hint, "6789");
}

TEST(Vault, TheEnvironmentsKeysAreTheOperatorsUnlessShared) {
  Vault only_operator(NewMasterKey(), "op", {});
  only_operator.SetEnvironmentKeys({{"openai", "sk-env-000000000000"}});
  only_operator.Load({}, {Owner("alice", "alice")});
  ASSERT_TRUE(only_operator.Find("op", "openai", "environment"));
  EXPECT_FALSE(only_operator.Find("alice", "openai", "environment"));
  EXPECT_TRUE(only_operator.Labels("alice", "openai").empty());
  EXPECT_EQ(only_operator.Labels("op", "openai"), std::vector<std::string>{"environment"});

  Vault shared(NewMasterKey(), "op", Sharing{false, {"alice"}});
  shared.SetEnvironmentKeys({{"openai", "sk-env-000000000000"}});
  shared.Load({}, {Owner("alice-id", "alice"), Owner("bob-id", "bob")});
  EXPECT_TRUE(shared.Find("alice-id", "openai", "environment"));
  EXPECT_FALSE(shared.Find("bob-id", "openai", "environment"));
  shared.NoteOwner(Owner("carol-id", "carol"));
  EXPECT_FALSE(shared.Find("carol-id", "openai", "environment"));

  Vault everyone(NewMasterKey(), "op", Sharing{true, {}});
  everyone.SetEnvironmentKeys({{"openai", "sk-env-000000000000"}});
  EXPECT_TRUE(everyone.Find("anyone", "openai", "environment"));
  EXPECT_FALSE(everyone.Find("anyone", "google", "environment"));
}

TEST(Vault, AnOwnersKeyLabelledEnvironmentShadowsTheEnvironmentsKey) {
  Vault vault(NewMasterKey(), "op", {});
  vault.SetEnvironmentKeys({{"openai", "sk-env-000000000000"}});
  auto own = vault.Seal("k1", "op", "openai", "environment", "sk-op-own-0000000000", 1);
  vault.Put(own, "sk-op-own-0000000000");
  EXPECT_EQ(vault.Find("op", "openai", "environment")->secret, "sk-op-own-0000000000");
  EXPECT_EQ(vault.Labels("op", "openai"), std::vector<std::string>{"environment"});
}

TEST(Vault, ARowThatDoesNotOpenIsLeftOutAndTheRestLoad) {
  MasterKey master = NewMasterKey();
  Vault vault(master, "op", {});
  auto good = vault.Seal("k1", "alice", "openai", "personal", "sk-alice-personal-000000", 1);
  auto bad = vault.Seal("k2", "alice", "openai", "team", "sk-alice-team-0000000000", 1);
  bad.sealed[40] ^= 1;
  vault.Load({good, bad}, {});
  EXPECT_TRUE(vault.Find("alice", "openai", "personal"));
  EXPECT_FALSE(vault.Find("alice", "openai", "team"));
}

TEST(Vault, LastUseIsHandedOutOncePerUse) {
  Vault vault(NewMasterKey(), "op", {});
  auto record = vault.Seal("k1", "alice", "openai", "personal", "sk-alice-personal-000000", 1);
  vault.Put(record, "sk-alice-personal-000000");
  EXPECT_TRUE(vault.TakeUsed().empty());
  vault.Find("alice", "openai", "personal")->last_used_at = 50;
  auto used = vault.TakeUsed();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0], (std::pair<std::string, UnixSeconds>{"k1", 50}));
  EXPECT_TRUE(vault.TakeUsed().empty());
}

// Each replacement of a key is a new id, which an owner may do without end: what is remembered of
// the uses of keys no longer held goes.
TEST(Vault, LastUsesAreRememberedForTheKeysHeldOnly) {
  Vault vault(NewMasterKey(), "op", {});
  for (int i = 0; i < 1000; ++i) {
    auto record = vault.Seal("k" + std::to_string(i), "alice", "openai", "personal", "sk-alice-personal-000000", 1);
    vault.Put(record, "sk-alice-personal-000000");  // replaces the one before
    vault.Find("alice", "openai", "personal")->last_used_at = 50 + i;
    ASSERT_EQ(vault.TakeUsed().size(), 1u);
  }
  EXPECT_EQ(vault.RememberedUses(), 1u);
  vault.Remove("k999");
  EXPECT_TRUE(vault.TakeUsed().empty());
  EXPECT_EQ(vault.RememberedUses(), 0u);
}

}  // namespace
}  // namespace ap::vault
