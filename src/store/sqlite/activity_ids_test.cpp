// SQLite's activity rows take their ids from next_ids (migration 21 keyed the table by time): a
// database written before keeps its rows and ids, and no later row takes an id one had, even the
// id of a row since pruned; a copy into SQLite goes on after the ids it copied.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "store/copy.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace ap::store {
namespace {

class SqliteActivityIdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ap-activity-ids-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static ActivityRecord Row(UnixMillis at) {
    ActivityRecord r;
    r.at = at;
    r.grant_id = "g1";
    r.app_name = "App";
    r.owner_id = "alice";
    r.provider = "openai";
    r.model = "gpt-4o-mini";
    r.capability = "chat";
    r.status = 200;
    return r;
  }
  static std::vector<ActivityRecord> All(Store& store) {
    ActivityQuery all;
    all.limit = 100;
    return store.Activity().ListActivity(all).value();  // newest first
  }

  std::filesystem::path dir_;
};

TEST_F(SqliteActivityIdsTest, RowsWrittenBeforeTheMigrationKeepTheirIdsAndNewOnesGoOnAfterThem) {
  auto file = dir_ / "old.db";
  {
    auto db = sqlite::OpenConnection(file).value();
    auto all = sqlite::Migrations();
    size_t before_21 = 0;
    while (all[before_21].version < 21) ++before_21;
    auto up_to_20 = all.first(before_21);
    ASSERT_EQ(up_to_20.back().version, 20);
    ASSERT_TRUE(sql::Migrate(*db, up_to_20));
    for (const char* insert :
         {"INSERT INTO activity (at, grant_id, app_name, owner_id, provider, model, capability, status, "
          "input_tokens, output_tokens, cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal) "
          "VALUES (1000, 'g1', 'App', 'alice', 'openai', 'gpt-4o-mini', 'chat', 200, 1, 2, 0, 3, 4, NULL, 0, '')",
          "INSERT INTO activity (at, grant_id, app_name, owner_id, provider, model, capability, status, "
          "input_tokens, output_tokens, cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal) "
          "VALUES (2000, 'g1', 'App', 'alice', 'openai', 'gpt-4o', 'chat', 429, 0, 0, 0, 0, 1, 7, 1, 'limit')",
          "INSERT INTO activity (at, grant_id, app_name, owner_id, provider, model, capability, status, "
          "input_tokens, output_tokens, cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal) "
          "VALUES (3000, 'g1', 'App', 'alice', 'openai', 'gpt-4o', 'chat', 200, 0, 0, 0, 0, 1, NULL, 0, '')",
          "DELETE FROM activity WHERE at = 3000"})  // id 3 was handed out, then pruned
      ASSERT_TRUE(db->Exec(insert));
  }
  auto store = OpenSqliteStore(file).value();
  auto kept = All(*store);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].id, 2);
  EXPECT_EQ(kept[0].at, 2000);
  EXPECT_EQ(kept[0].model, "gpt-4o");
  EXPECT_EQ(kept[0].status, 429);
  EXPECT_EQ(kept[0].ttft_ms, 7);
  EXPECT_TRUE(kept[0].streamed);
  EXPECT_EQ(kept[0].refusal, "limit");
  EXPECT_EQ(kept[1].id, 1);
  EXPECT_EQ(kept[1].input_tokens, 1);
  EXPECT_EQ(kept[1].cost_micros, 3);

  ASSERT_TRUE(store->Activity().AddActivity({Row(500), Row(4000)}));
  auto now = All(*store);
  ASSERT_EQ(now.size(), 4u);
  EXPECT_EQ(now[0].at, 4000);
  EXPECT_EQ(now[0].id, 5) << "after the pruned row's id, not in its place";
  EXPECT_EQ(now[3].at, 500);
  EXPECT_EQ(now[3].id, 4);
}

TEST_F(SqliteActivityIdsTest, ACopyIntoSqliteGoesOnAfterTheIdsItCopied) {
  auto from = dir_ / "from.db", to = dir_ / "to.db";
  {
    auto source = OpenSqliteStore(from).value();
    ASSERT_TRUE(source->Activity().AddActivity({Row(1000), Row(2000), Row(3000)}));
  }
  auto copied = CopyDatabase({Backend::kSqlite, from.string()}, {Backend::kSqlite, to.string()}, [](const auto&) {});
  ASSERT_TRUE(copied) << copied.error().message;
  auto target = OpenSqliteStore(to).value();
  ASSERT_TRUE(target->Activity().AddActivity({Row(4000)}));
  auto rows = All(*target);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].id, 4);
  EXPECT_EQ(rows[1].id, 3);
}

}  // namespace
}  // namespace ap::store
