#include "api/record_upkeep.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "store/sqlite/sqlite_store.hpp"

namespace ap::api {
namespace {

constexpr UnixMillis kDay = 86400 * 1000;
constexpr UnixMillis kNow = 1796000000000;

class RecordUpkeepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ap-record-upkeep-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    store_ = store::OpenSqliteStore(dir_ / "db").value();
    audit_ = std::make_unique<record::AuditLog>(*store_, pool_, std::string(32, 'k'));
  }
  void TearDown() override {
    pool_.Join();
    std::filesystem::remove_all(dir_);
  }
  void AddCalls(const std::vector<UnixMillis>& at) {
    std::vector<store::ActivityRecord> rows;
    for (UnixMillis t : at) {
      store::ActivityRecord r;
      r.at = t;
      r.grant_id = "g1";
      r.owner_id = "alice";
      r.provider = "openai";
      r.model = "gpt-4o-mini";
      r.capability = "chat";
      r.status = 200;
      rows.push_back(r);
    }
    ASSERT_TRUE(store_->Activity().AddActivity(rows));
  }
  // The `at` of every row left, oldest first.
  std::vector<UnixMillis> Left() {
    std::vector<UnixMillis> at;
    for (const auto& r : store_->Activity().ListActivity(store::ActivityQuery{}).value()) at.insert(at.begin(), r.at);
    return at;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  http::BlockingPool pool_{1};
  std::unique_ptr<record::AuditLog> audit_;
};

// While the broker serves, a due prune deletes a page of the oldest rows a job (the store thread's
// other jobs go between pages), until none older than the retention is left; then nothing until
// the next prune is due.
TEST_F(RecordUpkeepTest, ADuePruneGoesAPageAtATimeUntilNoOldRowIsLeft) {
  RecordUpkeep upkeep(*store_, *audit_, 30, 2);
  ASSERT_EQ(upkeep.PruneActivity(kNow).value(), 0);  // at start: nothing old yet
  AddCalls({kNow - 40 * kDay, kNow - 35 * kDay, kNow - 32 * kDay, kNow - 31 * kDay, kNow - 33 * kDay, kNow});
  UnixMillis later = kNow + RecordUpkeep::kPruneEveryMillis - 1;
  upkeep.PruneIfDue(later);
  EXPECT_FALSE(upkeep.PruneActivityPage(later)) << "no prune is due within the hour";
  EXPECT_EQ(Left().size(), 6u);

  UnixMillis due = kNow + RecordUpkeep::kPruneEveryMillis;
  upkeep.PruneIfDue(due);
  EXPECT_EQ(Left().size(), 6u) << "the pages come in jobs of their own";
  EXPECT_TRUE(upkeep.PruneActivityPage(due));
  EXPECT_EQ(Left(), (std::vector<UnixMillis>{kNow - 33 * kDay, kNow - 32 * kDay, kNow - 31 * kDay, kNow}));
  EXPECT_TRUE(upkeep.PruneActivityPage(due));
  EXPECT_EQ(Left(), (std::vector<UnixMillis>{kNow - 31 * kDay, kNow}));
  EXPECT_FALSE(upkeep.PruneActivityPage(due)) << "a page short of full is the last";
  EXPECT_EQ(Left(), (std::vector<UnixMillis>{kNow}));

  AddCalls({kNow - 50 * kDay});
  EXPECT_FALSE(upkeep.PruneActivityPage(due)) << "the prune has ended";
  upkeep.PruneIfDue(due + 1);
  EXPECT_FALSE(upkeep.PruneActivityPage(due + 1));
  EXPECT_EQ(Left().size(), 2u);
}

// At start (and by `activity prune`) every old row goes, a page a statement.
TEST_F(RecordUpkeepTest, AtStartEveryOldRowGoesWhateverThePage) {
  RecordUpkeep upkeep(*store_, *audit_, 30, 2);
  AddCalls({kNow - 40 * kDay, kNow - 35 * kDay, kNow - 32 * kDay, kNow - 31 * kDay, kNow - 29 * kDay});
  EXPECT_EQ(upkeep.PruneActivity(kNow).value(), 4);
  EXPECT_EQ(Left(), (std::vector<UnixMillis>{kNow - 29 * kDay}));
  EXPECT_EQ(PruneActivityBefore(store_->Activity(), kNow, 3).value(), 1);
  EXPECT_TRUE(Left().empty());
}

}  // namespace
}  // namespace ap::api
