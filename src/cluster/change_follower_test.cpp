#include "cluster/change_follower.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <time.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "domain/grant.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace ap::cluster {
namespace {

// Two brokers on one database: `here` follows what `there` changes.
class ChangeFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ap-follow-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    there_ = store::OpenSqliteStore(dir_ / "aipassport.db").value();
    here_ = store::OpenSqliteStore(dir_ / "aipassport.db").value();
  }
  void TearDown() override {
    here_.reset();
    there_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The change feed as a backup taken after change `backed_up` has it: the changes since are gone,
  // and the next one takes the number after it again.
  void RestoreChangesTo(int64_t backed_up) {
    RunSql("DELETE FROM changes WHERE seq > " + std::to_string(backed_up) +
           "; UPDATE sqlite_sequence SET seq = " + std::to_string(backed_up) + " WHERE name = 'changes'");
  }
  // Runs `sql` on the database as a third party (a restore, a hand edit).
  void RunSql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "aipassport.db").c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }

  store::GrantRecord Approved(const std::string& id) {
    store::GrantRecord g;
    g.id = id;
    g.request_id = "req-" + id;
    g.app_name = "App";
    g.app_url = "https://app.example";
    g.reason = "because";
    g.scope_json = R"({"provider":"openai","models":["gpt-4o-mini"],"capabilities":["chat"]})";
    g.created_at = 100;
    g.request_secret_hash = "h";
    EXPECT_TRUE(there_->Grants().CreateGrantRequest(
        {g.request_id, "App", "https://app.example", g.scope_json, "because", 100, ""}, g));
    g = there_->Grants().GetGrant(id).value();
    g.status = store::GrantStatus::kApproved;
    g.approved_at = 100;
    return there_->Grants().UpdateGrant(g).value();
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> there_, here_;
};

TEST_F(ChangeFollowerTest, ARevocationOnAnotherBrokerReachesTheCache) {
  auto grant = Approved("g1");
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  std::vector<std::string> changed;  // the meter recalls these grants' leases
  follower.OnGrantChange([&](std::string_view id) { changed.emplace_back(id); });
  ASSERT_TRUE(follower.Start());
  cache.Put(domain::GrantFromRecord(here_->Grants().GetGrant("g1").value()).value());
  EXPECT_EQ(follower.Poll().value(), 0);

  grant.status = store::GrantStatus::kRevoked;
  grant.revoked_at = 200;
  ASSERT_TRUE(there_->Grants().UpdateGrant(grant));
  EXPECT_EQ(cache.Find("g1")->record.status, store::GrantStatus::kApproved);  // not yet followed
  EXPECT_EQ(follower.Poll().value(), 1);
  EXPECT_EQ(cache.Find("g1")->record.status, store::GrantStatus::kRevoked);
  EXPECT_EQ(follower.Poll().value(), 0);  // each change is applied once
  EXPECT_EQ(changed, std::vector<std::string>{"g1"});
}

// The follower's age is read on one clock throughout: the boot clock in a broker, whose difference
// from the monotonic clock is every suspend since boot (mixing the two made a broker on a machine
// once suspended for 30 s refuse every call).
std::atomic<int64_t> fake_boot_nanos{1'000'000'000'000};
int64_t FakeBootClock() { return fake_boot_nanos.load(); }

TEST_F(ChangeFollowerTest, ItsAgeIsCountedOnItsOwnClockFromStartAndFromEachPoll) {
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache, FakeBootClock);
  ASSERT_TRUE(follower.Start());
  EXPECT_EQ(follower.Behind(), std::chrono::nanoseconds(0));
  fake_boot_nanos += 3'000'000'000;  // a suspend, or a stopped process
  EXPECT_EQ(follower.Behind(), std::chrono::seconds(3));
  EXPECT_FALSE(follower.CaughtUpWithin(std::chrono::seconds(2)));
  ASSERT_TRUE(follower.Poll());
  EXPECT_EQ(follower.Behind(), std::chrono::nanoseconds(0));
  EXPECT_TRUE(follower.CaughtUpWithin(std::chrono::seconds(2)));
  // The broker's clock itself: boot time, never behind the monotonic clock a suspend stops.
  timespec monotonic{};
  ::clock_gettime(CLOCK_MONOTONIC, &monotonic);
  EXPECT_GE(ChangeFollower::BootNanos(), int64_t{monotonic.tv_sec} * 1'000'000'000 + monotonic.tv_nsec);
}

// A grant handed on below another (token exchange) on another broker is cached here too: a call of
// a grant below it takes the per-minute and at-once limits of the ancestors the cache holds.
TEST_F(ChangeFollowerTest, AChildGrantMadeOnAnotherBrokerReachesTheCache) {
  auto parent = Approved("p");
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  ASSERT_TRUE(follower.Start());
  store::GrantRecord child = parent;
  child.id = "c";
  child.request_id = "req-c";
  child.ancestors = {"p"};
  child.expires_at = 150;
  ASSERT_TRUE(there_->Grants().CreateChildGrant(
      {"req-c", "App", "https://app.example", child.scope_json, "because", 120, ""}, child, {10, 10}, 120));
  EXPECT_EQ(follower.Poll().value(), 1);
  ASSERT_NE(cache.Find("c"), nullptr);
  EXPECT_EQ(cache.Find("c")->record.ancestors, std::vector<std::string>{"p"});
}

TEST_F(ChangeFollowerTest, ChangesMadeBeforeTheStartAreNotReplayed) {
  Approved("g1");
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  ASSERT_TRUE(follower.Start());
  EXPECT_EQ(follower.Poll().value(), 0);
  EXPECT_EQ(cache.Find("g1"), nullptr);
}

TEST_F(ChangeFollowerTest, ABrokerThatMissedPrunedChangesReadsItsWholeCacheAgain) {
  auto edited = Approved("g1");
  auto revoked = Approved("g2");
  auto quiet = Approved("g3");  // approved, edited once: read by the query of approved grants
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  std::vector<std::string> changed;
  follower.OnGrantChange([&](std::string_view id) { changed.emplace_back(id); });
  ASSERT_TRUE(follower.Start());
  for (const char* id : {"g1", "g2", "g3"})
    cache.Put(domain::GrantFromRecord(here_->Grants().GetGrant(id).value()).value());
  quiet.notes = "edited unseen";
  ASSERT_TRUE(there_->Grants().UpdateGrant(quiet));
  revoked.status = store::GrantStatus::kRevoked;
  revoked.revoked_at = 200;
  ASSERT_TRUE(there_->Grants().UpdateGrant(revoked));
  for (int i = 0; i < 3; ++i) {
    edited.notes = "edit " + std::to_string(i);
    edited = there_->Grants().UpdateGrant(edited).value();
  }
  // Everything but the newest change (g1's last edit) is pruned before this broker looks.
  ASSERT_TRUE(there_->Changes().PruneChanges(-10));
  auto span = there_->Changes().KeptChanges({}).value();
  EXPECT_EQ(span.first, span.last);
  EXPECT_EQ(follower.Poll().value(), 1);
  EXPECT_EQ(changed, (std::vector<std::string>{"g1", ""})) << "the one it read, then any grant";
  // Nothing it holds is served stale, and nothing is dropped (a call in flight on a grant the
  // cache does not hold is ended): the revocation it never saw is read from the grant itself.
  ASSERT_NE(cache.Find("g2"), nullptr);
  EXPECT_EQ(cache.Find("g2")->record.status, store::GrantStatus::kRevoked);
  ASSERT_NE(cache.Find("g1"), nullptr);
  EXPECT_EQ(cache.Find("g1")->record.notes, "edit 2");
  EXPECT_EQ(cache.Find("g1")->record.status, store::GrantStatus::kApproved);
  ASSERT_NE(cache.Find("g3"), nullptr);
  EXPECT_EQ(cache.Find("g3")->record.notes, "edited unseen");
  EXPECT_EQ(follower.Poll().value(), 0);  // and it follows on from the newest change
}

TEST_F(ChangeFollowerTest, ARotationOrAKeyChangeOnAnotherBrokerRunsItsHookOncePerPoll) {
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  int ring_reloads = 0, vault_reloads = 0;
  follower.OnChange("signing_keys", [&] { ++ring_reloads; });
  follower.OnChange("keys", [&] { ++vault_reloads; });
  ASSERT_TRUE(follower.Start());
  Approved("g1");
  EXPECT_GE(follower.Poll().value(), 1);  // a grant change: no hook is concerned
  EXPECT_EQ(ring_reloads + vault_reloads, 0);

  ASSERT_TRUE(
      there_->SigningKeys().AddSigningKey({"k1", "{}", "sealed", "wrapped", "m1", 100}, store::OlderKeys::kKeep));
  ASSERT_TRUE(
      there_->SigningKeys().AddSigningKey({"k2", "{}", "sealed", "wrapped", "m1", 101}, store::OlderKeys::kKeep));
  EXPECT_EQ(follower.Poll().value(), 2);
  EXPECT_EQ(ring_reloads, 1) << "two rotations read in one poll reload the ring once";
  EXPECT_EQ(vault_reloads, 0);

  ASSERT_TRUE(there_->Identity().CreateOwner({"alice", "alice", "x", 1}));
  ASSERT_TRUE(there_->Keys().PutKey({"p1", "alice", "openai", "default", "abcd", "s", "w", "m1", 100, std::nullopt}));
  ASSERT_TRUE(follower.Poll());
  EXPECT_EQ(vault_reloads, 1);
  EXPECT_EQ(ring_reloads, 1);
  EXPECT_EQ(follower.Poll().value(), 0);
  EXPECT_EQ(vault_reloads, 1);
}

// The database restored from a backup taken before changes this broker followed (or failed over to
// a replica behind it): the changes made since reuse their numbers, and would be skipped as seen.
TEST_F(ChangeFollowerTest, AFeedThatWentBackIsNoticedAndTheCacheReadAgain) {
  auto grant = Approved("g1");
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  std::vector<std::string> changed;
  follower.OnGrantChange([&](std::string_view id) { changed.emplace_back(id); });
  ASSERT_TRUE(follower.Start());
  int64_t backed_up = there_->Changes().LastChange().value();
  for (int i = 0; i < 3; ++i) {
    grant.notes = "edit " + std::to_string(i);
    grant = there_->Grants().UpdateGrant(grant).value();
  }
  EXPECT_EQ(follower.Poll().value(), 3);
  ASSERT_NE(cache.Find("g1"), nullptr);
  RestoreChangesTo(backed_up);
  grant.status = store::GrantStatus::kRevoked;
  grant.revoked_at = 200;
  grant = there_->Grants().UpdateGrant(grant).value();
  ASSERT_LE(there_->Changes().LastChange().value(), backed_up + 3) << "the revocation reuses a number seen";
  changed.clear();
  ASSERT_TRUE(follower.Poll());
  EXPECT_EQ(cache.Find("g1")->record.status, store::GrantStatus::kRevoked);
  EXPECT_EQ(changed, std::vector<std::string>{""}) << "every lease goes back";
  grant.notes = "after";
  ASSERT_TRUE(there_->Grants().UpdateGrant(grant));
  EXPECT_EQ(follower.Poll().value(), 1) << "it follows on from the feed as it is now";
  EXPECT_EQ(cache.Find("g1")->record.notes, "after");
}

// The grants went back with the feed (their versions too): the cache holds them as the database
// does now, not as the lost history left them, and a revocation made since, at a version below the
// one cached, is applied.
TEST_F(ChangeFollowerTest, AGrantThatWentBackWithTheFeedIsHeldAsTheDatabaseHoldsIt) {
  auto grant = Approved("g1");
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  ASSERT_TRUE(follower.Start());
  int64_t backed_up = there_->Changes().LastChange().value();
  store::GrantRecord backup = grant;
  for (int i = 0; i < 2; ++i) {
    grant.notes = "edit " + std::to_string(i);
    grant = there_->Grants().UpdateGrant(grant).value();
  }
  EXPECT_EQ(follower.Poll().value(), 2);
  ASSERT_EQ(cache.Find("g1")->record.version, backup.version + 2);
  RestoreChangesTo(backed_up);
  RunSql("UPDATE grants SET version = " + std::to_string(backup.version) + ", notes = '' WHERE id = 'g1'");
  ASSERT_TRUE(follower.Poll());
  EXPECT_EQ(cache.Find("g1")->record.notes, "") << "as the database holds it";
  EXPECT_EQ(cache.Find("g1")->record.version, backup.version);
  backup.status = store::GrantStatus::kRevoked;
  backup.revoked_at = 200;
  ASSERT_TRUE(there_->Grants().UpdateGrant(backup));
  ASSERT_TRUE(follower.Poll());
  EXPECT_EQ(cache.Find("g1")->record.status, store::GrantStatus::kRevoked);
}

// Restored, and then changed past the last change this broker read before it looked again: the
// numbers it saw are reused, the newest is past them, and only the change under the last one it
// read says so.
TEST_F(ChangeFollowerTest, AFeedThatWentBackAndOnPastTheLastChangeReadIsNoticed) {
  auto grant = Approved("g1");
  auto other = Approved("g2");
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  ASSERT_TRUE(follower.Start());
  int64_t backed_up = there_->Changes().LastChange().value();
  grant.notes = "edit";
  grant = there_->Grants().UpdateGrant(grant).value();
  EXPECT_EQ(follower.Poll().value(), 1);
  cache.Put(domain::GrantFromRecord(here_->Grants().GetGrant("g2").value()).value());
  RestoreChangesTo(backed_up);
  other.status = store::GrantStatus::kRevoked;  // takes the number of the edit read
  other.revoked_at = 200;
  other = there_->Grants().UpdateGrant(other).value();
  grant.notes = "past";
  grant = there_->Grants().UpdateGrant(grant).value();
  ASSERT_EQ(there_->Changes().LastChange().value(), backed_up + 2);
  EXPECT_EQ(follower.Poll().value(), 1) << "only the change past the one read";
  ASSERT_NE(cache.Find("g2"), nullptr);
  EXPECT_EQ(cache.Find("g2")->record.status, store::GrantStatus::kRevoked) << "read again, not served stale";
  other.notes = "after";
  ASSERT_TRUE(there_->Grants().UpdateGrant(other));
  EXPECT_EQ(follower.Poll().value(), 1) << "it follows on from the feed as it is now";
}

// The same before the follower read any change: the newest at its start is the one it knows.
TEST_F(ChangeFollowerTest, AFeedThatWentBackAndOnPastWhereTheFollowerStartedIsNoticed) {
  auto grant = Approved("g1");
  auto other = Approved("g2");
  int64_t backed_up = there_->Changes().LastChange().value();
  grant.notes = "edit";
  grant = there_->Grants().UpdateGrant(grant).value();
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  ASSERT_TRUE(follower.Start());
  cache.Put(domain::GrantFromRecord(here_->Grants().GetGrant("g2").value()).value());
  RestoreChangesTo(backed_up);
  other.status = store::GrantStatus::kRevoked;  // takes the number of the edit the follower started at
  other.revoked_at = 200;
  other = there_->Grants().UpdateGrant(other).value();
  grant.notes = "past";
  grant = there_->Grants().UpdateGrant(grant).value();
  EXPECT_EQ(follower.Poll().value(), 1);
  EXPECT_EQ(cache.Find("g2")->record.status, store::GrantStatus::kRevoked) << "read again, not served stale";
}

TEST_F(ChangeFollowerTest, AGrantDeletedIsForgottenAndItsLeaseRecalled) {
  Approved("g1");
  domain::GrantCache cache;
  ChangeFollower follower(*here_, cache);
  std::vector<std::string> changed;
  follower.OnGrantChange([&](std::string_view id) { changed.emplace_back(id); });
  ASSERT_TRUE(follower.Start());
  cache.Put(domain::GrantFromRecord(here_->Grants().GetGrant("g1").value()).value());
  RunSql("DELETE FROM grants WHERE id = 'g1'; INSERT INTO changes (at, kind, subject) VALUES (300, 'grant', 'g1')");
  EXPECT_EQ(follower.Poll().value(), 1);
  EXPECT_EQ(cache.Find("g1"), nullptr);
  EXPECT_EQ(changed, std::vector<std::string>{"g1"});
}

}  // namespace
}  // namespace ap::cluster
