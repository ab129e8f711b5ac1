#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "domain/grant.hpp"
#include "domain/token_service.hpp"
#include "record/record_writers.hpp"
#include "store/postgres/test_database.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace ap::record {
namespace {

class ActivityRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ap-activity-recorder-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    store_ = store::OpenSqliteStore(dir_ / "db").value();
    first_ = Approved();
  }
  void TearDown() override {
    pool_.Join();
    std::filesystem::remove_all(dir_);
  }

  std::string Approved() {
    domain::Scope scope;
    scope.provider = "openai";
    scope.capabilities = {"chat"};
    auto r = domain::MakeGrantRequest("app", "https://app.example", "", scope, "hash", 100);
    r.grant.status = store::GrantStatus::kApproved;
    EXPECT_TRUE(store_->Grants().CreateGrantRequest(r.request, r.grant));
    return r.grant.id;
  }
  static store::ActivityRecord Call(int64_t at) {
    store::ActivityRecord r;
    r.at = at;
    r.grant_id = "g1";
    r.owner_id = "alice";
    r.provider = "openai";
    r.model = "gpt-4o-mini";
    r.capability = "chat";
    r.status = 200;
    return r;
  }
  // Records `count` calls from `first` on, in `recorded_` too.
  void Record(ActivityRecorder& recorder, int64_t first, size_t count) {
    for (int64_t at = first; at < first + static_cast<int64_t>(count); ++at) {
      recorded_.push_back(at);
      recorder.Record(CallRow{Call(at), nullptr, nullptr});
    }
  }
  // Keeps the store thread busy until the promise is set, so that what is queued meanwhile waits.
  std::promise<void> HoldStoreThread() {
    std::promise<void> release;
    boost::asio::post(pool_.Pool(), [done = release.get_future()] { done.wait(); });
    return release;
  }
  // The `at` of every call the store holds, oldest first.
  std::vector<int64_t> Written() {
    store::ActivityQuery q;
    q.owner_id = "alice";
    q.limit = 100000;
    std::vector<int64_t> at;
    for (const auto& r : store_->Activity().ListActivity(q).value()) at.insert(at.begin(), r.at);
    return at;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  http::BlockingPool pool_{1};
  std::string first_;
  std::vector<int64_t> recorded_;
};

// A lease top-up queued behind a batch of activity waits for one chunk of it, not for the whole
// batch, and every row is still written, in order.
TEST_F(ActivityRecorderTest, ABatchIsWrittenAChunkAtATimeSoWorkQueuedBehindItWaitsForOneChunk) {
  ActivityRecorder recorder(*store_, pool_);
  std::promise<void> release = HoldStoreThread();
  Record(recorder, 1000, ActivityRecorder::kBatchRows);  // the last one queues the batch's flush
  std::promise<size_t> seen;
  http::PostBlocking(pool_, [&] { seen.set_value(Written().size()); });  // waits behind the batch
  release.set_value();
  EXPECT_EQ(seen.get_future().get(), ActivityRecorder::kChunkRows);
  pool_.Join();  // the rest of the batch
  EXPECT_EQ(Written(), recorded_);
}

// With no other job waiting for the store thread, a batch is one transaction, in one job: a job
// the pool does not count (so no one waits) queued behind the flush finds the whole batch written.
TEST_F(ActivityRecorderTest, ABatchNobodyWaitsBehindIsWrittenInOneTransaction) {
  ActivityRecorder recorder(*store_, pool_);
  std::promise<void> release = HoldStoreThread();
  Record(recorder, 1000, ActivityRecorder::kBatchRows);  // the last one queues the batch's flush
  std::promise<size_t> seen;
  boost::asio::post(pool_.Pool(), [&] { seen.set_value(Written().size()); });  // not counted as waiting
  release.set_value();
  EXPECT_EQ(seen.get_future().get(), ActivityRecorder::kBatchRows);
  pool_.Join();
  EXPECT_EQ(Written(), recorded_);
}

// A call hands over its row with its grant and token, not copies of their names: the row written
// names them all the same.
TEST_F(ActivityRecorderTest, ARowNamesTheGrantAndTokenItWasHandedOverWith) {
  auto grant = std::make_shared<domain::Grant>();
  grant->record.id = first_;
  grant->record.app_name = "Notes, an app with a longer name";
  grant->record.owner_id = "alice";
  auto claims = std::make_shared<domain::TokenClaims>();
  claims->jti = "a-token-id-longer-than-a-short-string";
  claims->client_id = "https://notes.example/client.json";
  store::ActivityRecord row = Call(1000);
  row.grant_id.clear();
  row.owner_id.clear();
  row.token_issued_at = 10;
  row.token_expires_at = 20;
  ActivityRecorder recorder(*store_, pool_);
  recorder.Record(CallRow{std::move(row), grant, claims});
  grant.reset();  // the row keeps what it names
  std::promise<void> done;
  http::PostBlocking(pool_, [&] {
    recorder.FlushAll();
    done.set_value();
  });
  done.get_future().get();

  store::ActivityQuery q;
  q.owner_id = "alice";
  auto written = store_->Activity().ListActivity(q).value();
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].grant_id, first_);
  EXPECT_EQ(written[0].app_name, "Notes, an app with a longer name");
  EXPECT_EQ(written[0].owner_id, "alice");
  auto tokens = store_->Activity().ListTokenUses(first_, 10).value();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].token_id, claims->jti);
  EXPECT_EQ(tokens[0].client_id, claims->client_id);
  EXPECT_EQ(tokens[0].calls, 1);
}

// A flood of calls refused at no cost (a revoked grant's token) writes kPerGrantMinute rows a
// minute; a refused call that reached the provider (a stream the budget ended, one it refused) is
// always recorded.
TEST_F(ActivityRecorderTest, AFloodOfCostlessRefusalsIsRecordedUpToItsRowsAMinute) {
  auto grant = std::make_shared<domain::Grant>();
  grant->record.id = first_;
  grant->record.owner_id = "alice";
  ActivityRecorder recorder(*store_, pool_);
  const int64_t minute = 1795860000000 / 60000 * 60000;
  auto refused = [&](int64_t at, int64_t cost) {
    store::ActivityRecord row = Call(at);
    row.status = 401;
    row.refusal = "unauthorized";
    row.cost_micros = cost;
    recorder.Record(CallRow{std::move(row), grant, nullptr});
  };
  for (int i = 0; i < 500; ++i) refused(minute + i, 0);
  refused(minute + 600, 70);
  store::ActivityRecord answered = Call(minute + 700);  // the provider refused it: it was sent
  answered.status = 400;
  answered.refusal = "invalid_request";
  recorder.Record(CallRow{std::move(answered), grant, nullptr, true});
  refused(minute + 60000, 0);  // the next minute
  std::promise<void> done;
  http::PostBlocking(pool_, [&] {
    recorder.FlushAll();
    done.set_value();
  });
  done.get_future().get();
  auto written = Written();
  ASSERT_EQ(written.size(), static_cast<size_t>(RefusalRows::kPerGrantMinute) + 3);
  EXPECT_EQ(written[RefusalRows::kPerGrantMinute - 1], minute + RefusalRows::kPerGrantMinute - 1) << "the first ones";
  EXPECT_EQ(written[RefusalRows::kPerGrantMinute], minute + 600) << "the one that cost something";
  EXPECT_EQ(written[RefusalRows::kPerGrantMinute + 1], minute + 700) << "the one sent upstream";
  EXPECT_EQ(written.back(), minute + 60000);
}

// When the broker stops, every row is written: the rest of a batch being written, then the rows
// that came in meanwhile.
TEST_F(ActivityRecorderTest, FlushAllWritesTheRestOfTheBatchAndTheRowsWaiting) {
  ActivityRecorder recorder(*store_, pool_);
  Record(recorder, 1000, ActivityRecorder::kChunkRows * 2 + 7);
  std::promise<void> done;
  http::PostBlocking(pool_, [&] {
    http::PostBlocking(pool_, [] {});  // a job waiting: Flush writes one chunk and queues the rest
    recorder.Flush();
    EXPECT_EQ(Written().size(), ActivityRecorder::kChunkRows);
    Record(recorder, 5000, 3);
    recorder.FlushAll();
    done.set_value();
  });
  done.get_future().get();
  pool_.Join();  // the job Flush queued finds nothing left
  EXPECT_EQ(Written(), recorded_);
}

// A batch is written by one chain of jobs (a chunk a job while others wait), whoever else asks for a flush
// meanwhile; rows that fill a batch while it is written follow it without waiting for the timer.
TEST_F(ActivityRecorderTest, OneBatchAtATimeAndTheNextFollowsItWithoutTheTimer) {
  ActivityRecorder recorder(*store_, pool_);
  std::promise<void> release = HoldStoreThread();
  Record(recorder, 1000, ActivityRecorder::kBatchRows);  // the last one queues the first batch's flush
  std::promise<size_t> seen;
  http::PostBlocking(pool_, [&] {                           // waits behind the first chunk
    Record(recorder, 10000, ActivityRecorder::kBatchRows);  // the last one queues a flush meanwhile
    boost::asio::post(pool_.Pool(), [&] { seen.set_value(Written().size()); });
  });
  release.set_value();
  // By then the first batch's second chunk was written, and the second flush wrote nothing.
  EXPECT_EQ(seen.get_future().get(), 2 * ActivityRecorder::kChunkRows);
  pool_.Join();
  EXPECT_EQ(Written(), recorded_);
}

// On PostgreSQL a value it can never hold (a NUL in text) fails its transaction for good: the batch
// is written again a chunk a transaction, and only the chunk holding that row is lost.
TEST_F(ActivityRecorderTest, ARowTheStoreCanNeverHoldCostsOnlyItsChunk) {
  if (!store::postgres::TestDatabaseUrl()) {
    if (std::getenv("AIPASSPORT_REQUIRE_POSTGRES")) FAIL() << "AIPASSPORT_TEST_DATABASE_URL is not set";
    GTEST_SKIP() << "no PostgreSQL: run under scripts/with-postgres.sh (make test does)";
  }
  const std::string schema = "t_recorder_" + std::to_string(::getpid());
  store::postgres::RunOnTestDatabase("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  store_ = store::postgres::OpenTestStoreInSchema(schema).value();
  {
    ActivityRecorder recorder(*store_, pool_);
    std::vector<int64_t> kept;  // chunks of 250 from 1000: the third (1500-1749) holds the bad row
    for (int64_t at = 1000; at < 2000; ++at) {
      store::ActivityRecord row = Call(at);
      if (at == 1600) row.model = std::string("a\0b", 3);
      if (at < 1500 || at >= 1750) kept.push_back(at);
      recorder.Record(CallRow{std::move(row), nullptr, nullptr});
    }
    std::promise<void> done;
    http::PostBlocking(pool_, [&] {
      recorder.FlushAll();
      done.set_value();
    });
    done.get_future().get();
    EXPECT_EQ(Written(), kept);
  }
  store_.reset();
  EXPECT_FALSE(store::postgres::RunOnTestDatabase("DROP SCHEMA " + schema + " CASCADE"));
}


// A grant's costless refusals get kPerGrantMinute rows a minute; another grant's, and the next
// minute's, are counted apart; past kMaxGrants grants in a minute none is kept.
TEST(RefusalRows, EachGrantGetsItsRowsAMinute) {
  RefusalRows rows;
  const UnixMillis minute = 1795860000000 / 60000 * 60000;
  for (int64_t i = 0; i < RefusalRows::kPerGrantMinute; ++i) ASSERT_TRUE(rows.Keep("flood", minute + i));
  EXPECT_FALSE(rows.Keep("flood", minute + 59999));
  EXPECT_TRUE(rows.Keep("quiet", minute + 59999));
  EXPECT_TRUE(rows.Keep("flood", minute + 60000)) << "a new minute";
  // A slow call of the minute before ends now: it counts in this minute, and starts none anew.
  for (int64_t i = 1; i < RefusalRows::kPerGrantMinute; ++i) ASSERT_TRUE(rows.Keep("flood", minute + (i % 2) * 60000));
  EXPECT_FALSE(rows.Keep("flood", minute + 60001));
  RefusalRows many;
  for (size_t i = 0; i < RefusalRows::kMaxGrants; ++i) ASSERT_TRUE(many.Keep("g" + std::to_string(i), minute));
  EXPECT_FALSE(many.Keep("one more", minute));
  EXPECT_TRUE(many.Keep("g1", minute)) << "a grant counted already goes on";
}

// Events an append failed for (here a damaged head, as the store unreachable would) are appended by
// the next one, ahead of those recorded since, in the order they happened.
TEST(AuditLog, EventsAFailedAppendKeptBackGoFirstInTheNext) {
  char tmpl[] = "/tmp/ap-audit-log-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(tmpl);
  auto store = store::OpenSqliteStore(dir / "db").value();
  http::BlockingPool pool(1);
  AuditLog log(*store, pool, std::string(32, 'k'));
  auto settle = [&pool] {
    std::promise<void> done;
    boost::asio::post(pool.Pool(), [&] { done.set_value(); });
    done.get_future().get();
  };
  ASSERT_TRUE(store->PutSetting("audit.head", "-1 damaged head"));
  log.Record(AuditEvent{"owner.added", "cli", "", "", "{}"});
  settle();
  EXPECT_TRUE(store->Audit().ListAudit({}).value().empty());
  ASSERT_TRUE(
      store->PutSetting("audit.head", "0 " + kGenesisHash + " " + SealHead(std::string(32, 'k'), 0, kGenesisHash).mac));
  log.Record(AuditEvent{"owner.removed", "cli", "", "", "{}"});
  settle();
  store::AuditQuery oldest_first;
  oldest_first.oldest_first = true;
  auto trail = store->Audit().ListAudit(oldest_first).value();
  ASSERT_EQ(trail.size(), 2u);
  EXPECT_EQ(trail[0].kind, "owner.added");
  EXPECT_EQ(trail[1].kind, "owner.removed");
  pool.Join();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ap::record
