#include "store/sqlite/connection.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

namespace ap::store::sqlite {
namespace {

class SqliteConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ap-sqlite-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = std::move(OpenConnection(dir_ / "test.db").value());
    ASSERT_TRUE(db_->Exec("CREATE TABLE t (n INTEGER NOT NULL, s TEXT NOT NULL)"));
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  int64_t Count() {
    auto rows = db_->Run("SELECT COUNT(*) FROM t", {});
    EXPECT_EQ(rows->Next(), sql::kRow);
    return rows->Int(0);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Connection> db_;
};

// The database holds password hashes and sessions: a new one, and the -wal and -shm files SQLite
// makes beside it with its mode, are this user's only, whatever the umask lets through.
TEST_F(SqliteConnectionTest, ANewDatabaseIsReadableByItsUserOnly) {
  mode_t before = ::umask(022);
  auto fresh = OpenConnection(dir_ / "fresh.db");
  ::umask(before);
  ASSERT_TRUE(fresh);
  ASSERT_TRUE((*fresh)->Exec("CREATE TABLE t (n INTEGER)"));
  for (const char* name : {"fresh.db", "fresh.db-wal", "fresh.db-shm"}) {
    struct stat info {};
    ASSERT_EQ(::stat((dir_ / name).c_str(), &info), 0) << name;
    EXPECT_EQ(info.st_mode & 0777, 0600) << name;
  }
}

// 87 rows take every batch size (64, 16, 4, 1 and 1 more): each row is read back as it was bound,
// though the values are bound without a copy.
TEST_F(SqliteConnectionTest, AppendedRowsAreStoredAsBound) {
  sql::Values values;
  for (int i = 0; i < 87; ++i) values.Bind(int64_t{i}).Bind("row " + std::to_string(i) + " 'quoted' \t");
  ASSERT_EQ(db_->AppendRows("t", "n, s", values), sql::kDone);
  auto rows = db_->Run("SELECT n, s FROM t ORDER BY n", {});
  for (int i = 0; i < 87; ++i) {
    ASSERT_EQ(rows->Next(), sql::kRow) << i;
    EXPECT_EQ(rows->Int(0), i);
    EXPECT_EQ(rows->Text(1), "row " + std::to_string(i) + " 'quoted' \t");
  }
  EXPECT_EQ(rows->Next(), sql::kDone);
}

// A row the table refuses, in the last batches: the append fails, DbError says why, and the
// transaction's rollback leaves none of the rows before it.
TEST_F(SqliteConnectionTest, ARefusedRowFailsTheAppendAndItsTransactionKeepsNothing) {
  sql::Values values;
  for (int i = 0; i < 87; ++i) {
    values.Bind(int64_t{i});
    if (i == 85)
      values.Bind(std::optional<std::string>());
    else
      values.Bind("fine");
  }
  ASSERT_TRUE(db_->Begin());
  ASSERT_EQ(db_->AppendRows("t", "n, s", values), sql::kError);
  EXPECT_NE(db_->DbError("append").message.find("NOT NULL constraint failed: t.s"), std::string::npos)
      << db_->DbError("append").message;
  ASSERT_TRUE(db_->Exec("ROLLBACK"));
  EXPECT_EQ(Count(), 0);
  // The statements are usable again, with nothing of the failed batch still bound.
  sql::Values one;
  one.Bind(int64_t{1}).Bind("again");
  EXPECT_EQ(db_->AppendRows("t", "n, s", one), sql::kDone);
  EXPECT_EQ(Count(), 1);
}

// SQLite counts its memory under a process-wide lock unless told not to before it starts; the
// broker opens every database through OpenConnection, which tells it. Counted, the rows written
// here would show as memory in use.
TEST_F(SqliteConnectionTest, SqliteKeepsNoMemoryStatistics) {
  sql::Values values;
  for (int64_t n = 0; n < 100; ++n) values.Bind(n).Bind(std::string(100, 'x'));
  ASSERT_EQ(db_->AppendRows("t", "n, s", values), sql::kDone);
  EXPECT_EQ(Count(), 100);
  EXPECT_EQ(sqlite3_memory_used(), 0);
}

// A transaction larger than the log's limit (a migration's, a prune's) grows the log file; the file
// is cut back to 16 MB when the log starts over, rather than kept at that size for good.
TEST_F(SqliteConnectionTest, TheLogFileShrinksBackAfterALargeTransaction) {
  auto log_bytes = [&] { return std::filesystem::file_size(dir_ / "test.db-wal"); };
  sql::Values large;
  for (int i = 0; i < 400; ++i) large.Bind(int64_t{i}).Bind(std::string(100000, static_cast<char>('a' + i % 26)));
  ASSERT_TRUE(db_->Begin());
  ASSERT_EQ(db_->AppendRows("t", "n, s", large), sql::kDone);
  ASSERT_TRUE(db_->Exec("COMMIT"));
  EXPECT_GT(log_bytes(), 32u << 20) << "some 40 MB written in one transaction";
  for (int i = 0; i < 3; ++i) {  // the first commit after it checkpoints it; the next starts the log over
    sql::Values small;
    small.Bind(int64_t{1000 + i}).Bind("small");
    ASSERT_EQ(db_->AppendRows("t", "n, s", small), sql::kDone);
  }
  EXPECT_LE(log_bytes(), 16u << 20);
  EXPECT_EQ(Count(), 403);
}

}  // namespace
}  // namespace ap::store::sqlite
