// The behaviour every Store implementation must have. New implementations add a factory to
// kStoreFactories and run the same suite.
#include "store/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "core/ids.hpp"
#include "core/money.hpp"
#include "store/postgres/change_listener.hpp"
#include "store/postgres/connection.hpp"
#include "store/postgres/migrations.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/postgres/test_database.hpp"
#include "store/sql/migrate.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/tables/key_tables.hpp"

namespace ap::store {
namespace {

// A new write's id, as the broker gives one to each write of leases and usage.
WriteId AWrite() { return RandomNumberId(); }

GrantRequestRecord Request(const std::string& id, UnixSeconds at) {
  return {id, "App " + id, "https://app.example", R"({"provider":"openai"})", "because", at, ""};
}

GrantRecord PendingGrant(const std::string& id, UnixSeconds at, std::optional<int64_t> max_requests = {}) {
  GrantRecord g;
  g.id = id;
  g.request_id = "req-" + id;
  g.app_name = "App " + id;
  g.app_url = "https://app.example";
  g.reason = "because";
  g.scope_json = R"({"provider":"openai"})";
  g.max_requests = max_requests;
  g.created_at = at;
  g.request_secret_hash = "hash-" + id;
  return g;
}

// Opens, or reopens, the store kept under a directory (SQLite: a file in it; PostgreSQL: a schema
// named after it); `drop` removes what the tests left.
struct StoreFactory {
  const char* name;
  std::function<std::unique_ptr<Store>(const std::filesystem::path& dir)> open;
  std::function<void(const std::filesystem::path& dir)> drop = [](const std::filesystem::path&) {};
};

void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

std::string SchemaFor(const std::filesystem::path& dir) {
  std::string name = "t_" + dir.filename().string().substr(std::string("ap-store-").size());
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name;
}

void OnPostgres(const std::string& statement) {
  auto failed = postgres::RunOnTestDatabase(statement);
  ASSERT_FALSE(failed) << *failed;
}

std::unique_ptr<Store> OpenPostgres(const std::filesystem::path& dir) {
  return postgres::OpenTestStoreInSchema(SchemaFor(dir)).value();
}

const StoreFactory kStoreFactories[] = {
    {"Sqlite", [](const std::filesystem::path& dir) { return OpenSqliteStore(dir / "aipassport.db").value(); }},
    {"Postgres", OpenPostgres,
     [](const std::filesystem::path& dir) { OnPostgres("DROP SCHEMA " + SchemaFor(dir) + " CASCADE"); }},
};

std::filesystem::path MakeTempDir() {
  char tmpl[] = "/tmp/ap-store-XXXXXX";
  return ::mkdtemp(tmpl);
}

class StoreTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    if (std::string_view(GetParam().name) == "Postgres" && !postgres::TestDatabaseUrl()) {
      if (std::getenv("AIPASSPORT_REQUIRE_POSTGRES")) FAIL() << "AIPASSPORT_TEST_DATABASE_URL is not set";
      GTEST_SKIP() << "no PostgreSQL: run under scripts/with-postgres.sh (make test does)";
    }
    dir_ = MakeTempDir();
    store_ = Open();
  }
  void TearDown() override {
    if (dir_.empty()) return;
    store_.reset();
    GetParam().drop(dir_);
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Store> Open() { return GetParam().open(dir_); }
  // The store closed and its database made anew, migrated up to `sqlite_version` (or
  // `postgres_version`): a test writes rows as an older broker did, then opens the store (which
  // migrates the rest). Null if the migrations failed.
  std::unique_ptr<sql::Connection> FreshDatabaseUpTo(int sqlite_version, int postgres_version) {
    bool postgres = std::string_view(GetParam().name) == "Postgres";
    store_.reset();
    GetParam().drop(dir_);
    std::filesystem::remove(dir_ / "aipassport.db");
    auto all = postgres ? postgres::Migrations() : sqlite::Migrations();
    int last = postgres ? postgres_version : sqlite_version;
    auto upto =
        all.first(std::find_if(all.begin(), all.end(), [&](auto& m) { return m.version > last; }) - all.begin());
    std::unique_ptr<sql::Connection> db;
    if (postgres) {
      OnPostgres("CREATE SCHEMA " + SchemaFor(dir_));
      db = postgres::Connection::Open(postgres::TestDatabaseUrlInSchema(SchemaFor(dir_))).value();
    } else {
      db = sqlite::OpenConnection(dir_ / "aipassport.db").value();
    }
    if (!sql::Migrate(*db, upto)) return nullptr;
    return db;
  }

  GrantRecord Create(const std::string& id, UnixSeconds at, std::optional<int64_t> max_requests = {}) {
    EXPECT_TRUE(store_->Grants().CreateGrantRequest(Request("req-" + id, at), PendingGrant(id, at, max_requests)));
    return store_->Grants().GetGrant(id).value();
  }

  GrantRecord Approve(GrantRecord g) {
    g.status = GrantStatus::kApproved;
    g.approved_at = g.created_at;
    return store_->Grants().UpdateGrant(g).value();
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, CreatesAndReadsAGrant) {
  GrantRecord g = Create("g1", 100, 5);
  EXPECT_EQ(g.app_name, "App g1");
  EXPECT_EQ(g.status, GrantStatus::kPending);
  EXPECT_EQ(g.max_requests, 5);
  EXPECT_EQ(g.version, 1);
  EXPECT_FALSE(g.expires_at);
  EXPECT_EQ(store_->Grants().GetGrant("nope").error().code, Errc::kNotFound);
}

TEST_P(StoreTest, ListsNewestFirst) {
  Create("old", 100);
  Create("new", 300);
  Create("mid", 200);
  auto all = store_->Grants().ListGrantPage({}).value();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, "new");
  EXPECT_EQ(all[1].id, "mid");
  EXPECT_EQ(all[2].id, "old");
}

// Walks every page of `query` and answers the ids in the order seen.
std::vector<std::string> WalkGrantPages(Store& store, GrantQuery query, const std::function<void()>& between = {}) {
  std::vector<std::string> seen;
  while (true) {
    auto page = store.Grants().ListGrantPage(query).value();
    EXPECT_LE(static_cast<int64_t>(page.size()), query.limit);
    for (const auto& g : page) seen.push_back(g.id);
    if (static_cast<int64_t>(page.size()) < query.limit) return seen;
    query.after = GrantCursor{page.back().created_at, page.back().id};
    if (between) between();
  }
}

TEST_P(StoreTest, PagesOfGrantsCoverEveryGrantOnceNewestFirst) {
  // Several grants per second, so that the cursor's tie-break on id matters.
  std::vector<std::string> expected;
  for (int i = 0; i < 23; ++i) {
    std::string id = "g" + std::to_string(100 + (i * 7) % 23);  // ids out of creation order
    Create(id, 1000 + i / 4);
    expected.push_back(id);
  }
  std::sort(expected.begin(), expected.end(), [&](const std::string& a, const std::string& b) {
    auto ga = store_->Grants().GetGrant(a).value(), gb = store_->Grants().GetGrant(b).value();
    return std::tie(ga.created_at, ga.id) > std::tie(gb.created_at, gb.id);
  });
  GrantQuery query;
  query.limit = 5;
  EXPECT_EQ(WalkGrantPages(*store_, query), expected);
  query.limit = 23;
  EXPECT_EQ(WalkGrantPages(*store_, query), expected);
  // New grants made during a walk come before its cursor (newest first): the walk still sees each
  // grant that was there when it began exactly once.
  int made = 0;
  query.limit = 4;
  auto seen = WalkGrantPages(*store_, query, [&] { Create("new" + std::to_string(made++), 1005); });
  EXPECT_GT(made, 3);
  std::vector<std::string> old_seen;
  for (const auto& id : seen)
    if (id.rfind("new", 0) != 0) old_seen.push_back(id);
  EXPECT_EQ(old_seen, expected);
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size());
}

TEST_P(StoreTest, AnOwnersPagesHoldTheirGrantsAndTheUndecidedRequestsOnly) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"alice", "alice", "h", 1}));
  ASSERT_TRUE(store_->Identity().CreateOwner({"bob", "bob", "h", 1}));
  std::vector<std::string> alices;
  for (int i = 0; i < 30; ++i) {
    std::string id = "g" + std::to_string(100 + i);
    GrantRecord g = Create(id, 1000 + i);
    if (i % 3 == 2) {  // waiting: anyone may decide it
      alices.push_back(id);
      continue;
    }
    g.status = GrantStatus::kApproved;
    g.owner_id = i % 3 == 0 ? "alice" : "bob";
    ASSERT_TRUE(store_->Grants().UpdateGrant(g));
    if (i % 3 == 0) alices.push_back(id);
  }
  std::reverse(alices.begin(), alices.end());
  GrantQuery query;
  query.owner_id = "alice";
  query.limit = 4;
  // Each page is full until the last: the filter is in the query, not applied to a page after.
  auto first = store_->Grants().ListGrantPage(query).value();
  EXPECT_EQ(first.size(), 4u);
  EXPECT_EQ(WalkGrantPages(*store_, query), alices);
  query.limit = 1000;
  EXPECT_EQ(WalkGrantPages(*store_, query), alices);
  query.owner_id.reset();
  EXPECT_EQ(WalkGrantPages(*store_, query).size(), 30u);
}

TEST_P(StoreTest, WaitingUnverifiedRequestsPageApart) {
  Create("old", 100);
  Create("a", 500);
  Create("b", 501);
  Create("c", 502);
  Approve(Create("d", 503));
  GrantRecord v = PendingGrant("v", 504);
  v.verified = true;
  ASSERT_TRUE(store_->Grants().CreateGrantRequest(Request("req-v", 504), v));
  GrantQuery query;
  query.waiting_unverified_after = 400;
  query.limit = 1;
  EXPECT_EQ(WalkGrantPages(*store_, query), (std::vector<std::string>{"c", "b", "a"}));
}

// One address's unverified requests still waiting, made after the cutoff: not another address's,
// nor one decided, verified or lapsed.
TEST_P(StoreTest, WaitingUnverifiedRequestsAreCountedByTheirAddress) {
  auto ask = [&](const std::string& id, UnixSeconds at, const std::string& from, bool verified = false) {
    GrantRequestRecord r = Request("req-" + id, at);
    r.requested_from = from;
    GrantRecord g = PendingGrant(id, at);
    g.verified = verified;
    EXPECT_TRUE(store_->Grants().CreateGrantRequest(r, g));
    return g;
  };
  ask("lapsed", 100, "10.0.0.1");
  ask("a", 500, "10.0.0.1");
  ask("b", 501, "10.0.0.1");
  Approve(ask("decided", 502, "10.0.0.1"));
  ask("verified", 503, "10.0.0.1", true);
  ask("elsewhere", 504, "10.0.0.2");
  EXPECT_EQ(store_->Grants().CountWaitingUnverifiedFrom("10.0.0.1", 400).value(), 2);
  EXPECT_EQ(store_->Grants().CountWaitingUnverifiedFrom("10.0.0.2", 400).value(), 1);
  EXPECT_EQ(store_->Grants().CountWaitingUnverifiedFrom("10.0.0.3", 400).value(), 0);
  EXPECT_EQ(store_->Grants().CountWaitingUnverified(400).value(), 3);
}

TEST_P(StoreTest, EventsAndUsageRowsPage) {
  Approve(Create("g1", 100));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->Metering().AddEvent({"g1", 100 + i, "budget_threshold", "{}"}));
  ASSERT_TRUE(store_->Metering().AddEvent({"g2", 100, "budget_threshold", "{}"}));
  auto first = store_->Metering().ListEvents("g1", 0, 3).value();
  ASSERT_EQ(first.size(), 3u);
  auto rest = store_->Metering().ListEvents("g1", first.back().id, 3).value();
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].at, 103);
  EXPECT_EQ(rest[1].at, 104);
  ASSERT_TRUE(store_->Metering().Settle("n1", AWrite(),
                                        {{"g1", "2026-11-27", "b", 1, 1, 0, 1, 0, 1},
                                         {"g1", "2026-11-27", "a", 1, 2, 0, 2, 1500, 2},
                                         {"g1", "2026-11-28", "a", 2, 3, 0, 3, 0, 3}}));
  auto rows = store_->Metering().ListUsage("g1", std::nullopt, 2).value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].model, "b");
  auto more = store_->Metering().ListUsage("g1", rows.back(), 2).value();
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].day, "2026-11-28");
  auto total = store_->Metering().TotalUsage("g1").value();
  EXPECT_EQ(total.requests, 4);
  EXPECT_EQ(total.input_tokens, 6);
  EXPECT_EQ(total.audio_milliseconds, 1500);
  EXPECT_EQ(total.cost_micros, 6);
  EXPECT_EQ(store_->Metering().TotalUsage("nope").value().requests, 0);
}

TEST_P(StoreTest, CountsSelfRegisteredClients) {
  EXPECT_EQ(store_->OAuth().CountSelfRegisteredClients().value(), 0);
  ASSERT_TRUE(store_->OAuth().CreateClient({"c1", "Added", "", "", {"https://a.example/cb"}, false, "", false, 1, false}));
  ASSERT_TRUE(store_->OAuth().CreateClient({"c2", "Self", "", "", {"https://b.example/cb"}, false, "", false, 1, true}));
  ASSERT_TRUE(store_->OAuth().CreateClient({"c3", "Self", "", "", {"https://c.example/cb"}, false, "", false, 1, true}));
  EXPECT_EQ(store_->OAuth().CountSelfRegisteredClients().value(), 2);
}

TEST_P(StoreTest, AClientKeepsTheOwnerWhoRegisteredIt) {
  ASSERT_TRUE(store_->OAuth().CreateClient(
      {"c1", "Mine", "", "", {"https://a.example/cb"}, false, "", false, 1, false, "owner_alice"}));
  ASSERT_TRUE(
      store_->OAuth().CreateClient({"c2", "Operator's", "", "", {"https://b.example/cb"}, false, "", false, 1}));
  EXPECT_EQ(store_->OAuth().GetClient("c1")->registered_by, "owner_alice");
  EXPECT_EQ(store_->OAuth().GetClient("c2")->registered_by, "");
  EXPECT_EQ(store_->OAuth().ListClients()->front().registered_by, "owner_alice");
}

TEST_P(StoreTest, AClientKeepsWhetherItMayStartTheDeviceFlow) {
  ASSERT_TRUE(store_->OAuth().CreateClient(
      {"tv", "TV", "", "", {"https://a.example/cb"}, false, "", false, 1, false, "", true}));
  ASSERT_TRUE(store_->OAuth().CreateClient({"web", "Web", "", "", {"https://b.example/cb"}, false, "", false, 1}));
  EXPECT_TRUE(store_->OAuth().GetClient("tv")->device_grant);
  auto web = store_->OAuth().GetClient("web").value();
  EXPECT_FALSE(web.device_grant);
  web.device_grant = true;
  ASSERT_TRUE(store_->OAuth().UpdateClient(web));
  EXPECT_TRUE(store_->OAuth().GetClient("web")->device_grant);
}

TEST_P(StoreTest, UpdateIsCompareAndSetOnVersion) {
  GrantRecord g = Create("g1", 100);
  GrantRecord approved = Approve(g);
  EXPECT_EQ(approved.status, GrantStatus::kApproved);
  EXPECT_EQ(approved.version, 2);
  g.status = GrantStatus::kDenied;  // still at version 1: a stale write
  auto stale = store_->Grants().UpdateGrant(g);
  ASSERT_FALSE(stale);
  EXPECT_EQ(store_->Grants().GetGrant("g1")->status, GrantStatus::kApproved);
}

// Anyone may ask for a grant: requests nobody decided are deleted once their wait is long over,
// the oldest first and a page at a time; decided ones, and those still waiting, stay.
TEST_P(StoreTest, RequestsNobodyDecidedAreDeletedOnceTheirWaitIsLongOver) {
  for (const auto& [id, ends] : {std::pair{"old1", 1000}, {"old2", 1100}, {"old3", 1200}, {"recent", 5000}}) {
    GrantRecord g = Create(id, 100);
    g.expires_at = ends;
    ASSERT_TRUE(store_->Grants().UpdateGrant(g));
  }
  GrantRecord decided = Create("decided", 100);
  decided.expires_at = 1000;
  Approve(decided);
  EXPECT_EQ(store_->Grants().PruneLapsedRequests(2000, 2).value(), 2);
  EXPECT_EQ(store_->Grants().GetGrant("old1").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->Grants().GetGrant("old2").error().code, Errc::kNotFound);
  EXPECT_TRUE(store_->Grants().GetGrant("old3"));
  EXPECT_EQ(store_->Grants().PruneLapsedRequests(2000, 2).value(), 1);
  EXPECT_EQ(store_->Grants().PruneLapsedRequests(2000, 2).value(), 0);
  EXPECT_TRUE(store_->Grants().GetGrant("recent"));
  EXPECT_EQ(store_->Grants().GetGrant("decided").value().status, GrantStatus::kApproved);
  // Their request rows went too: a new request may take an old one's id.
  GrantRecord again = PendingGrant("old1-again", 3000);
  again.request_id = "req-old1";
  EXPECT_TRUE(store_->Grants().CreateGrantRequest(Request("req-old1", 3000), again));
  GrantRecord beside = PendingGrant("recent-2", 3000);
  beside.request_id = "req-recent";
  EXPECT_FALSE(store_->Grants().CreateGrantRequest(Request("req-recent", 3000), beside))
      << "the request of one still waiting is still there";
}

TEST_P(StoreTest, LeasesNeverGiveOutMoreThanTheCapOrBudget) {
  GrantRecord g = Create("g1", 100, 3);
  g.budget_micros = 1000;
  Approve(g);
  EXPECT_EQ(store_->Metering().TakeLease("g1", "n1", {400, 1}, {400, 1}, AWrite()).value().micros, 400);
  auto rest =
      store_->Metering().TakeLease("g1", "n2", {100, 1}, {5000, 5}, AWrite()).value();  // wants more than is left
  EXPECT_EQ(rest.micros, 600);
  EXPECT_EQ(rest.requests, 1) << "half of the requests left: the grant's other calls share the rest";
  EXPECT_EQ(store_->Metering().TakeLease("g1", "n1", {1, 0}, {1, 0}, AWrite()).error().code, Errc::kBudgetExceeded);
  EXPECT_EQ(store_->Metering().TakeLease("g1", "n1", {0, 1}, {0, 5}, AWrite()).value().requests, 1);
  EXPECT_EQ(store_->Metering().TakeLease("g1", "n1", {0, 1}, {0, 1}, AWrite()).error().code, Errc::kLimitReached);
  GrantRecord read = store_->Grants().GetGrant("g1").value();
  EXPECT_EQ(read.leased_micros, 1000);
  EXPECT_EQ(read.leased_requests, 3);
}

TEST_P(StoreTest, LeasesRefuseGrantsThatAreNotApproved) {
  Create("pending", 100, 3);
  EXPECT_EQ(store_->Metering().TakeLease("pending", "n1", {0, 1}, {0, 1}, AWrite()).error().code, Errc::kUnauthorized);
  EXPECT_EQ(store_->Metering().TakeLease("missing", "n1", {0, 1}, {0, 1}, AWrite()).error().code, Errc::kNotFound);
  // Ended by the database's clock, whatever the asking node's says.
  GrantRecord ended = Create("ended", 100, 3);
  ended.expires_at = store_->Metering().DatabaseNow().value();
  Approve(ended);
  auto refused = store_->Metering().TakeLease("ended", "n1", {0, 1}, {0, 1}, AWrite());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kUnauthorized);
  EXPECT_EQ(refused.error().message, "Grant status is 'expired'");
  GrantRecord later = Create("later", 100, 3);
  later.expires_at = store_->Metering().DatabaseNow().value() + 3600;
  Approve(later);
  EXPECT_EQ(store_->Metering().TakeLease("later", "n1", {0, 1}, {0, 1}, AWrite()).value().requests, 1);
}

TEST_P(StoreTest, SettlingMovesSpendFromTheLeaseToTheGrant) {
  GrantRecord g = Create("g1", 100, 10);
  g.budget_micros = 1000;
  Approve(g);
  WriteId took = AWrite();
  ASSERT_TRUE(store_->Metering().TakeLease("g1", "n1", {500, 2}, {500, 2}, took));
  auto changes = store_->Metering().Settle(
      "n1", AWrite(),
      {{"g1", "2026-11-28", "gpt-4o", 1, 10, 0, 5, 0, 120}, {"g1", "2026-11-28", "gpt-4o", 1, 10, 0, 5, 0, 80}});
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].before_micros, 0);
  EXPECT_EQ((*changes)[0].after_micros, 200);
  EXPECT_EQ((*changes)[0].budget_micros, 1000);
  GrantRecord read = store_->Grants().GetGrant("g1").value();
  EXPECT_EQ(read.spent_micros, 200);
  EXPECT_EQ(read.usage_count, 2);
  EXPECT_EQ(read.leased_micros, 300);
  EXPECT_EQ(read.leased_requests, 0);
  ASSERT_TRUE(store_->Metering().ReturnLease("g1", "n1", {300, 0}, AWrite(), took));
  EXPECT_EQ(store_->Grants().GetGrant("g1")->leased_micros, 0);
  EXPECT_EQ(store_->Metering().TakeLease("g1", "n1", {800, 0}, {800, 0}, AWrite()).value().micros,
            800);  // all that is left
}

// A write whose connection drops as it commits may have been applied or not; the broker tries it
// again with its id (a settlement, a return) or looks it up (a take), and the store applies each
// once. A later write with another id is a write of its own.
TEST_P(StoreTest, ASettlementTriedAgainWithItsIdIsAppliedOnce) {
  GrantRecord g = Create("g1", 100, 10);
  g.budget_micros = 1000;
  Approve(g);
  ASSERT_TRUE(store_->Metering().Heartbeat("n1", 100, 0));
  ASSERT_TRUE(store_->Metering().TakeLease("g1", "n1", {500, 2}, {500, 2}, AWrite()));
  std::vector<UsageRecord> rows{{"g1", "2026-11-28", "gpt-4o", 1, 10, 0, 5, 0, 120}};
  WriteId batch = AWrite();
  ASSERT_EQ(store_->Metering().Settle("n1", batch, rows).value().size(), 1u);
  auto again = store_->Metering().Settle("n1", batch, rows).value();
  ASSERT_EQ(again.size(), 1u) << "applied already: its changes as they were, for the budget alerts still due";
  EXPECT_EQ(again[0].before_micros, 0);
  EXPECT_EQ(again[0].after_micros, 120);
  EXPECT_EQ(again[0].budget_micros, 1000);
  GrantRecord read = store_->Grants().GetGrant("g1").value();
  EXPECT_EQ(read.spent_micros, 120);
  EXPECT_EQ(read.usage_count, 1);
  EXPECT_EQ(read.leased_micros, 380);
  EXPECT_EQ(store_->Metering().TotalUsage("g1")->input_tokens, 10);
  ASSERT_EQ(store_->Metering().Settle("n1", AWrite(), rows).value().size(), 1u);
  EXPECT_EQ(store_->Grants().GetGrant("g1")->spent_micros, 240);
}

TEST_P(StoreTest, ATakeIsFoundByItsIdUntilTheNodesNextTake) {
  GrantRecord g = Create("g1", 100, 10);
  g.budget_micros = 1000;
  Approve(g);
  WriteId take = AWrite();
  EXPECT_FALSE(store_->Metering().LeaseTaken("g1", "n1", take).value()) << "no lease yet";
  ASSERT_TRUE(store_->Metering().TakeLease("g1", "n1", {300, 1}, {300, 1}, take));
  auto found = store_->Metering().LeaseTaken("g1", "n1", take).value();
  ASSERT_TRUE(found);
  EXPECT_EQ(found->micros, 300);
  EXPECT_EQ(found->requests, 1);
  EXPECT_FALSE(store_->Metering().LeaseTaken("g1", "n2", take).value()) << "another node's";
  EXPECT_FALSE(store_->Metering().LeaseTaken("g1", "n1", AWrite()).value()) << "another take";
  ASSERT_TRUE(store_->Metering().Settle("n1", AWrite(), {{"g1", "2026-11-28", "gpt-4o", 1, 10, 0, 5, 0, 100}}));
  EXPECT_TRUE(store_->Metering().LeaseTaken("g1", "n1", take).value()) << "a settlement is not a take";
  ASSERT_TRUE(store_->Metering().TakeLease("g1", "n1", {100, 1}, {100, 1}, AWrite()));
  EXPECT_FALSE(store_->Metering().LeaseTaken("g1", "n1", take).value()) << "the next take replaced it";
}

// Each row's cost is at most kMaxMicros; a batch of them for one grant sums to more than int64
// holds, and is counted as the bound, never wrapped into a refund.
TEST_P(StoreTest, ABatchOfTheLargestCostsIsSettledAtTheBound) {
  Approve(Create("g1", 100, 10));
  std::vector<UsageRecord> rows;
  for (int i = 0; i < 10; ++i)
    rows.push_back({"g1", "2026-11-28", "m" + std::to_string(i), 1, 10, 0, 5, 0, kMaxMicros});
  ASSERT_TRUE(store_->Metering().Settle("n1", AWrite(), rows));
  GrantRecord read = store_->Grants().GetGrant("g1").value();
  EXPECT_EQ(read.spent_micros, kMaxMicros);
  EXPECT_EQ(read.usage_count, 10);
}

TEST_P(StoreTest, TheLeasesOfAVanishedNodeCountAsUsed) {
  GrantRecord g = Create("g1", 100, 10);
  g.budget_micros = 1000;
  Approve(g);
  ASSERT_TRUE(store_->Metering().Heartbeat("dead", 100, 0));
  ASSERT_TRUE(store_->Metering().TakeLease("g1", "dead", {300, 4}, {300, 4}, AWrite()));
  EXPECT_EQ(store_->Metering().Heartbeat("alive", 120, 90).value().lost, 0);  // "dead" was seen recently enough
  EXPECT_EQ(store_->Metering().Heartbeat("alive", 200, 150).value().lost, 1);
  GrantRecord read = store_->Grants().GetGrant("g1").value();
  EXPECT_EQ(read.lost_micros, 300);
  EXPECT_EQ(read.lost_requests, 4);
  EXPECT_EQ(read.leased_micros, 0);
  EXPECT_EQ(store_->Metering().TakeLease("g1", "alive", {701, 0}, {701, 0}, AWrite()).error().code,
            Errc::kBudgetExceeded);
  auto events = store_->Metering().ListEvents("g1", 0, 100).value();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "lease_lost");
  WriteId took = AWrite();
  ASSERT_TRUE(store_->Metering().TakeLease("g1", "alive", {150, 2}, {150, 2}, took));
  ASSERT_TRUE(
      store_->Metering().ReturnLease("g1", "alive", {100, 1}, AWrite(), took));  // what no call holds goes back first
  // A clean stop: what calls it cut short still held is lost too.
  ASSERT_TRUE(store_->Metering().RetireNode("alive", 210));
  read = store_->Grants().GetGrant("g1").value();
  EXPECT_EQ(read.leased_micros, 0);
  EXPECT_EQ(read.lost_micros, 350);
  EXPECT_EQ(read.lost_requests, 5);
  EXPECT_EQ(store_->Metering().ListEvents("g1", 0, 100)->size(), 2u);
}

// A child of `parent` (approved, ending at `ends`), as token exchange makes one.
GrantRecord ChildOf(const GrantRecord& parent, const std::string& id, std::optional<int64_t> budget_micros,
                    std::optional<int64_t> max_requests, UnixSeconds ends = 10'000) {
  GrantRecord c = PendingGrant(id, 150, max_requests);
  c.budget_micros = budget_micros;
  c.status = GrantStatus::kApproved;
  c.approved_at = 150;
  c.expires_at = ends;
  c.ancestors.push_back(parent.id);
  c.ancestors.insert(c.ancestors.end(), parent.ancestors.begin(), parent.ancestors.end());
  return c;
}

constexpr GrantStore::ChildBounds kRoomy{50, 1000};
// An end after the database's clock, for grants that lease: a lease is refused past its grant's end.
constexpr UnixSeconds kFarEnd = 4'000'000'000;

// A root grant of 1,000 micro-USD and 100 requests, and a child of it allowed 800 and 50.
void MakeRootAndChild(Store& store) {
  ASSERT_TRUE(store.Grants().CreateGrantRequest(Request("req-root", 100), PendingGrant("root", 100, 100)));
  GrantRecord root = store.Grants().GetGrant("root").value();
  root.status = GrantStatus::kApproved;
  root.approved_at = root.created_at;
  root.budget_micros = 1000;
  root.expires_at = kFarEnd;
  root = store.Grants().UpdateGrant(root).value();
  ASSERT_TRUE(store.Grants().CreateChildGrant(Request("req-child", 150), ChildOf(root, "child", 800, 50, kFarEnd),
                                              kRoomy, 200));
}

// A return that emptied a lease, its answer lost: the lease stays, empty, with the return's id, so
// that a child's take filling it again does not make the retry look new. Empty leases count as
// nothing lost when their node goes.
TEST_P(StoreTest, AReturnThatEmptiedALeaseIsKnownAfterAChildTakesFromIt) {
  MakeRootAndChild(*store_);
  WriteId root_took = AWrite();
  ASSERT_TRUE(store_->Metering().TakeLease("root", "n1", {300, 1}, {300, 1}, root_took));
  WriteId back = AWrite();
  ASSERT_TRUE(store_->Metering().ReturnLease("root", "n1", {300, 1}, back, root_took));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 0);
  WriteId child_took = AWrite();
  ASSERT_TRUE(store_->Metering().TakeLease("child", "n1", {200, 2}, {200, 2}, child_took));
  ASSERT_TRUE(store_->Metering().ReturnLease("root", "n1", {300, 1}, back, root_took));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 200) << "the child's, not taken by the retry";
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_requests, 2);
  ASSERT_TRUE(store_->Metering().ReturnLease("child", "n1", {200, 2}, AWrite(), child_took));
  ASSERT_TRUE(store_->Metering().RetireNode("n1", 300));
  EXPECT_TRUE(store_->Metering().ListEvents("root", 0, 10)->empty()) << "nothing was lost";
  EXPECT_EQ(store_->Grants().GetGrant("root")->lost_micros, 0);
}

// The same return tried again after its node's leases were lost (counted as spent) and a child's
// take made the root's lease anew: that lease is not the one the return came from.
TEST_P(StoreTest, AReturnTriedAgainAfterItsLeaseWasLostAndMadeAnewIsNotApplied) {
  MakeRootAndChild(*store_);
  ASSERT_TRUE(store_->Metering().Heartbeat("n1", 100, 0));
  WriteId root_took = AWrite();
  ASSERT_TRUE(store_->Metering().TakeLease("root", "n1", {300, 1}, {300, 1}, root_took));
  WriteId back = AWrite();
  ASSERT_TRUE(store_->Metering().ReturnLease("root", "n1", {300, 1}, back, root_took));
  EXPECT_EQ(store_->Metering().Heartbeat("n2", 200, 150).value().lost, 0) << "n1 is gone, holding nothing";
  WriteId child_took = AWrite();
  ASSERT_TRUE(store_->Metering().TakeLease("child", "n1", {200, 2}, {200, 2}, child_took));
  ASSERT_TRUE(store_->Metering().ReturnLease("root", "n1", {300, 1}, back, root_took));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 200) << "the child's, not taken by the retry";
  // An empty lease is dropped when its node says no return to it is in doubt; one that holds
  // something is not.
  ASSERT_TRUE(store_->Metering().DropEmptyLease("root", "n1"));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 200);
  WriteId again = AWrite();
  ASSERT_TRUE(store_->Metering().TakeLease("root", "n1", {100, 1}, {100, 1}, again));
  ASSERT_TRUE(store_->Metering().ReturnLease("root", "n1", {100, 1}, AWrite(), again));
  ASSERT_TRUE(store_->Metering().ReturnLease("child", "n1", {200, 2}, AWrite(), child_took));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 0);
  ASSERT_TRUE(store_->Metering().LeaseTaken("root", "n1", again).value()) << "the emptied lease is kept";
  ASSERT_TRUE(store_->Metering().DropEmptyLease("root", "n1"));
  EXPECT_FALSE(store_->Metering().LeaseTaken("root", "n1", again).value()) << "and then dropped";
}

// A return whose answer was lost, tried again (see ASettlementTriedAgainWithItsIdIsAppliedOnce).
TEST_P(StoreTest, AReturnTriedAgainWithItsIdIsAppliedOnceAlongTheChain) {
  MakeRootAndChild(*store_);
  ASSERT_TRUE(store_->Metering().TakeLease("root", "n1", {300, 1}, {300, 1}, AWrite()));
  WriteId took = AWrite();
  ASSERT_TRUE(store_->Metering().TakeLease("child", "n1", {200, 4}, {200, 4}, took));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 500);
  WriteId back = AWrite();
  ASSERT_TRUE(store_->Metering().ReturnLease("child", "n1", {50, 1}, back, took));
  ASSERT_TRUE(store_->Metering().ReturnLease("child", "n1", {50, 1}, back, took));
  EXPECT_EQ(store_->Grants().GetGrant("child")->leased_micros, 150);
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 450);
  ASSERT_TRUE(store_->Metering().ReturnLease("child", "n1", {50, 1}, AWrite(), took));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 400);
  EXPECT_TRUE(store_->Metering().ReturnLease("child", "n1", {50, 1}, AWrite(), AWrite()));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 400) << "not from the lease the child's take left";
  // Once the child's lease is empty (here all given back), a return to it again is not taken out
  // of the root's lease, which the root's own calls hold.
  WriteId rest = AWrite();
  ASSERT_TRUE(store_->Metering().ReturnLease("child", "n1", {100, 2}, rest, took));
  EXPECT_EQ(store_->Grants().GetGrant("child")->leased_micros, 0);
  ASSERT_TRUE(store_->Metering().ReturnLease("child", "n1", {100, 2}, rest, took));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 300);
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_requests, 1);
}

TEST_P(StoreTest, AChildLeasesFromItsWholeChainAndItsSpendIsItsAncestorsToo) {
  GrantRecord root = Create("root", 100, 100);
  root.budget_micros = 1000;
  root.expires_at = kFarEnd;
  root = Approve(root);
  GrantRecord child = ChildOf(root, "child", 800, 50, kFarEnd);
  ASSERT_TRUE(store_->Grants().CreateChildGrant(Request("req-child", 150), child, kRoomy, 200));
  GrantRecord grandchild = ChildOf(child, "grandchild", 600, std::nullopt, kFarEnd);
  ASSERT_TRUE(store_->Grants().CreateChildGrant(Request("req-grandchild", 150), grandchild, kRoomy, 200));
  EXPECT_EQ(store_->Grants().GetGrant("grandchild")->ancestors, (std::vector<std::string>{"child", "root"}));

  // The root's own calls hold 300 of its 1000. The grandchild, allowed 600, gets what the chain can
  // lend: an ancestor lends at most half of what it has left (the child 400 of its 800, the root 350
  // of its 700), and every grant of the chain counts it.
  ASSERT_TRUE(store_->Metering().TakeLease("root", "n1", {300, 1}, {300, 1}, AWrite()));
  WriteId took = AWrite();
  auto lease = store_->Metering().TakeLease("grandchild", "n1", {100, 1}, {900, 5}, took).value();
  EXPECT_EQ(lease.micros, 350);
  EXPECT_EQ(lease.requests, 5);  // no cap of its own: the chain's caps bound it (the child's 50)
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 650);
  EXPECT_EQ(store_->Grants().GetGrant("child")->leased_micros, 350);
  // What a call needs is lent whole while the ancestor has it, and refused past it.
  EXPECT_EQ(store_->Metering().TakeLease("child", "n1", {351, 0}, {351, 0}, AWrite()).error().code,
            Errc::kBudgetExceeded);

  auto changes =
      store_->Metering().Settle("n1", AWrite(), {{"grandchild", "2026-11-28", "gpt-4o", 2, 10, 0, 5, 0, 250}}).value();
  EXPECT_EQ(changes.size(), 3u);  // the grandchild, the child and the root each spent it
  for (const auto& id : {"root", "child", "grandchild"}) {
    GrantRecord read = store_->Grants().GetGrant(id).value();
    EXPECT_EQ(read.spent_micros, 250) << id;
    EXPECT_EQ(read.usage_count, 2) << id;
  }
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 300 + 100);
  ASSERT_TRUE(store_->Metering().ReturnLease("grandchild", "n1", {100, 3}, AWrite(), took));
  EXPECT_EQ(store_->Grants().GetGrant("root")->leased_micros, 300);
  EXPECT_EQ(store_->Grants().GetGrant("child")->leased_micros, 0);
  EXPECT_EQ(store_->Grants().GetGrant("child")->leased_requests, 0);
  // Usage rows stay the grant's own: the root's list shows only its own calls.
  EXPECT_TRUE(store_->Metering().ListUsage("root", std::nullopt, 10)->empty());

  // A vanished node: what it held of the chain is lost for each grant that counted it.
  ASSERT_TRUE(store_->Metering().TakeLease("grandchild", "dead", {100, 1}, {100, 1}, AWrite()));
  ASSERT_TRUE(store_->Metering().RetireNode("dead", 300));
  EXPECT_EQ(store_->Grants().GetGrant("root")->lost_micros, 100);
  EXPECT_EQ(store_->Grants().GetGrant("grandchild")->lost_micros, 100);
}

// Busy children each asking for as much as their own caps allow never lease their parent empty:
// each lease leaves half of the parent's remainder to the others, so a call of a sibling still gets
// its lease while the parent has calls left (its usage is far below its cap).
TEST_P(StoreTest, ChildrenNeverLeaseTheirParentEmptyBetweenThem) {
  GrantRecord parent = Create("parent", 100, 500);
  parent.budget_micros = 10'000;
  parent.expires_at = kFarEnd;
  parent = Approve(parent);
  for (const auto& id : {"c1", "c2", "c3"}) {
    GrantRecord child = ChildOf(parent, id, 10'000, 500, kFarEnd);
    ASSERT_TRUE(store_->Grants().CreateChildGrant(Request(std::string("req-") + id, 150), child, kRoomy, 200));
    auto lease = store_->Metering().TakeLease(id, "n1", {100, 1}, {10'000, 500}, AWrite());
    ASSERT_TRUE(lease) << id << ": " << lease.error().message;
  }
  GrantRecord read = store_->Grants().GetGrant("parent").value();
  EXPECT_EQ(read.leased_requests, 250 + 125 + 62);
  EXPECT_EQ(read.leased_micros, 5'000 + 2'500 + 1'250);
  // A call that needs more than half of what the parent has left still gets it whole.
  auto big = store_->Metering().TakeLease("c2", "n3", {1'000, 0}, {1'000, 0}, AWrite());
  ASSERT_TRUE(big) << big.error().message;
  EXPECT_EQ(big->micros, 1'000);
  // Nor do the grant's own busy calls: they get half of the requests left.
  auto own = store_->Metering().TakeLease("parent", "n1", {100, 1}, {100, 500}, AWrite());
  ASSERT_TRUE(own) << own.error().message;
  EXPECT_EQ(own->requests, (500 - 437) / 2);
  auto fourth = store_->Metering().TakeLease("c1", "n2", {100, 1}, {10'000, 500}, AWrite());
  ASSERT_TRUE(fourth) << fourth.error().message;
}

TEST_P(StoreTest, AChildIsRefusedOnceAnyOfItsAncestorsIsNotApproved) {
  GrantRecord root = Create("root", 100, 100);
  root.expires_at = kFarEnd;
  root = Approve(root);
  GrantRecord child = ChildOf(root, "child", std::nullopt, 10, kFarEnd);
  ASSERT_TRUE(store_->Grants().CreateChildGrant(Request("req-child", 150), child, kRoomy, 200));
  ASSERT_TRUE(store_->Metering().TakeLease("child", "n1", {0, 1}, {0, 1}, AWrite()));
  root.status = GrantStatus::kRevoked;
  root.revoked_at = 250;
  ASSERT_TRUE(store_->Grants().UpdateGrant(root));
  EXPECT_EQ(store_->Metering().TakeLease("child", "n1", {0, 1}, {0, 1}, AWrite()).error().code, Errc::kUnauthorized);
  GrantRecord late = ChildOf(store_->Grants().GetGrant("child").value(), "late", std::nullopt, 1, kFarEnd);
  EXPECT_EQ(store_->Grants().CreateChildGrant(Request("req-late", 150), late, kRoomy, 260).error().code,
            Errc::kUnauthorized);
  EXPECT_EQ(store_->Grants().GetGrant("late").error().code, Errc::kNotFound);
  GrantRecord expired = ChildOf(store_->Grants().GetGrant("child").value(), "expired", std::nullopt, 1, kFarEnd);
  EXPECT_EQ(store_->Grants().CreateChildGrant(Request("req-expired", 150), expired, kRoomy, kFarEnd + 1).error().code,
            Errc::kUnauthorized);
}

// Changes `g` with `edit` and carries `carry` to its subtree, as ChangeGrant does.
template <class Edit>
GrantStore::TreeChange ChangeTree(Store& store, const std::string& id, Edit edit, GrantStore::SubtreeChange carry) {
  GrantRecord g = store.Grants().GetGrant(id).value();
  edit(g);
  return store.Grants().UpdateGrantTree(g, carry).value();
}

void Revoke(GrantRecord& g) { g.status = GrantStatus::kRevoked; }

TEST_P(StoreTest, RevokingOrEndingAGrantCarriesToItsWholeSubtreeInOneTransaction) {
  GrantRecord root = Create("root", 100, 100);
  root.expires_at = 9'500;
  root = Approve(root);
  GrantRecord a = ChildOf(root, "a", std::nullopt, 10, 9'000);
  GrantRecord b = ChildOf(root, "b", std::nullopt, 10, 5'000);
  ASSERT_TRUE(store_->Grants().CreateChildGrant(Request("req-a", 150), a, kRoomy, 200));
  ASSERT_TRUE(store_->Grants().CreateChildGrant(Request("req-b", 150), b, kRoomy, 200));
  GrantRecord a1 = ChildOf(a, "a1", std::nullopt, 5, 9'000);
  ASSERT_TRUE(store_->Grants().CreateChildGrant(Request("req-a1", 150), a1, kRoomy, 200));
  EXPECT_EQ(store_->Grants().ListChildIds("root", 10).value(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(store_->Grants().ListChildIds("a", 10).value(), std::vector<std::string>{"a1"});

  auto ended = ChangeTree(*store_, "root", [](GrantRecord& g) { g.expires_at = 6'000; }, {std::nullopt, 6'000});
  EXPECT_EQ(ended.grant.expires_at, 6'000);
  ASSERT_EQ(ended.descendants.size(), 2u);  // a and a1; b already ends sooner
  EXPECT_EQ(store_->Grants().GetGrant("a1")->expires_at, 6'000);
  EXPECT_EQ(store_->Grants().GetGrant("b")->expires_at, 5'000);

  auto revoked = ChangeTree(*store_, "a", Revoke, {300, std::nullopt});
  ASSERT_EQ(revoked.descendants.size(), 1u);
  EXPECT_EQ(revoked.descendants[0].id, "a1");
  EXPECT_EQ(revoked.descendants[0].revoked_at, 300);
  EXPECT_EQ(store_->Grants().GetGrant("b")->status, GrantStatus::kApproved);  // a sibling is left alone
  auto all = ChangeTree(*store_, "root", Revoke, {400, std::nullopt});
  ASSERT_EQ(all.descendants.size(), 1u);  // b; a and a1 already were
  EXPECT_EQ(store_->Grants().GetGrant("a1")->revoked_at, 300);
  // Each change reaches the other brokers through the change feed.
  auto feed = store_->Changes().ChangesAfter(0, 100).value();
  EXPECT_GE(std::count_if(feed.begin(), feed.end(), [](const auto& c) { return c.subject == "a1"; }), 2);

  // A stale write changes neither the grant nor its subtree.
  GrantRecord stale = a;  // version 1
  stale.status = GrantStatus::kRevoked;
  EXPECT_FALSE(store_->Grants().UpdateGrantTree(stale, {500, std::nullopt}));
}

TEST_P(StoreTest, AChildNeverOutlivesItsAncestors) {
  GrantRecord root = Create("root", 100, 100);
  root.expires_at = 5'000;
  root = Approve(root);
  GrantRecord late = ChildOf(root, "late", std::nullopt, 1, 5'001);
  auto refused = store_->Grants().CreateChildGrant(Request("req-late", 150), late, kRoomy, 200);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kUnauthorized);
  EXPECT_NE(refused.error().message.find("ends before the child would"), std::string::npos);
  EXPECT_TRUE(store_->Grants().CreateChildGrant(Request("req-late", 150), ChildOf(root, "late", std::nullopt, 1, 5'000),
                                                kRoomy, 200));
}

TEST_P(StoreTest, AGrantsOwnCallsDoNotEraseWhatItsChildrenLeasedWhereItLeasesNothing) {
  GrantRecord root = Create("root", 100);  // no budget, no cap: the meter leases nothing for its calls
  root.expires_at = kFarEnd;
  root = Approve(root);
  ASSERT_TRUE(
      store_->Grants().CreateChildGrant(Request("req-c", 150), ChildOf(root, "c", 500, 5, kFarEnd), kRoomy, 200));
  ASSERT_TRUE(store_->Metering().TakeLease("c", "n1", {500, 5}, {500, 5}, AWrite()));
  UsageRecord own{"root", "2026-11-28", "gpt-4o", 1, 10, 0, 5, 0, 300};
  own.unleased_micros = 300;
  own.unleased_requests = 1;
  ASSERT_TRUE(store_->Metering().Settle("n1", AWrite(), {own}));
  GrantRecord read = store_->Grants().GetGrant("root").value();
  EXPECT_EQ(read.spent_micros, 300);
  EXPECT_EQ(read.leased_micros, 500);  // still what the child holds
  EXPECT_EQ(read.leased_requests, 5);
}

// A call admitted before the owner set a budget and a cap leased nothing; settled after, it must
// not come out of the lease taken since for the calls that came after it. Else the store counts
// less as leased than the broker holds, and lends the difference again past the budget.
TEST_P(StoreTest, ACallThatLeasedNothingSettlesOutOfNoLease) {
  GrantRecord g = Create("g1", 100, 10);
  g.budget_micros = 1000;
  Approve(g);
  ASSERT_TRUE(store_->Metering().TakeLease("g1", "n1", {600, 4}, {600, 4}, AWrite()));
  UsageRecord before_the_budget{"g1", "2026-11-28", "gpt-4o", 1, 10, 0, 5, 0, 250};
  before_the_budget.unleased_micros = 250;
  before_the_budget.unleased_requests = 1;
  UsageRecord leased{"g1", "2026-11-28", "gpt-4o", 1, 10, 0, 5, 0, 100};
  ASSERT_TRUE(store_->Metering().Settle("n1", AWrite(), {before_the_budget, leased}));
  GrantRecord read = store_->Grants().GetGrant("g1").value();
  EXPECT_EQ(read.spent_micros, 350);
  EXPECT_EQ(read.usage_count, 2);
  EXPECT_EQ(read.leased_micros, 500) << "only the leased call came out of the lease";
  EXPECT_EQ(read.leased_requests, 3);
  EXPECT_EQ(store_->Metering().TakeLease("g1", "n2", {151, 0}, {151, 0}, AWrite()).error().code, Errc::kBudgetExceeded);
  EXPECT_EQ(store_->Metering().TakeLease("g1", "n2", {150, 0}, {150, 0}, AWrite()).value().micros,
            150);  // 1000 - 350 - 500
}

TEST_P(StoreTest, ATreeHasBoundedLiveGrantsHoweverDeep) {
  GrantRecord root = Create("root", 100, 100);
  root.expires_at = 10'000;
  root = Approve(root);
  auto make = [&](const GrantRecord& parent, const std::string& id, GrantStore::ChildBounds bounds, UnixSeconds now) {
    return store_->Grants().CreateChildGrant(Request("req-" + id, 150), ChildOf(parent, id, std::nullopt, 1), bounds,
                                             now);
  };
  GrantRecord c0 = ChildOf(root, "c0", std::nullopt, 1);
  ASSERT_TRUE(make(root, "c0", {3, 1000}, 200));
  ASSERT_TRUE(make(root, "c1", {3, 1000}, 200));
  ASSERT_TRUE(make(c0, "g0", {3, 1000}, 200));
  // Each parent has fewer than 3 children, but the tree holds 3 live grants: a grandchild counts.
  EXPECT_EQ(make(c0, "g1", {3, 1000}, 200).error().code, Errc::kLimitReached);
  EXPECT_EQ(make(root, "c2", {3, 1000}, 200).error().code, Errc::kLimitReached);
  // Grants that ended no longer count against the live bound, but still count in the tree's.
  ChangeTree(*store_, "c0", Revoke, {300, std::nullopt});  // and its child g0
  EXPECT_TRUE(make(root, "c3", {3, 1000}, 400));
  EXPECT_EQ(make(root, "c4", {3, 4}, 400).error().code, Errc::kLimitReached);
}

TEST_P(StoreTest, EverythingSurvivesReopening) {
  Approve(Create("g1", 100, 10));
  ASSERT_TRUE(store_->Metering().Settle("n1", AWrite(), {{"g1", "2026-11-28", "gpt-4o", 1, 10, 0, 5, 0, 120}}));
  ASSERT_TRUE(store_->PutSetting("owner_token_sha256", "abc"));
  store_ = Open();
  auto g = store_->Grants().GetGrant("g1").value();
  EXPECT_EQ(g.status, GrantStatus::kApproved);
  EXPECT_EQ(g.usage_count, 1);
  EXPECT_EQ(g.spent_micros, 120);
  EXPECT_EQ(store_->GetSetting("owner_token_sha256").value(), "abc");
  EXPECT_EQ(store_->GetSetting("unset").value(), std::nullopt);
  EXPECT_EQ(store_->Grants().ListApprovedGrants()->size(), 1u);
}

TEST_P(StoreTest, ANameWithANulByteNeverMatchesTheNameBeforeIt) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"o1", "alice", "hash", 100}));
  EXPECT_FALSE(store_->Identity().GetOwnerByName(std::string("alice\0x", 7)));  // not found, or refused
  EXPECT_TRUE(store_->Identity().GetOwnerByName("alice"));
}

TEST_P(StoreTest, ASettingAddedIfAbsentIsSetByOneOfSeveralConnections) {
  std::atomic<int> set{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      auto own = GetParam().open(dir_);
      if (own->AddSettingIfAbsent("owner_token_sha256", "hash-" + std::to_string(i)).value()) ++set;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(set, 1);
  auto kept = store_->GetSetting("owner_token_sha256").value();
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->rfind("hash-", 0), 0u);
  EXPECT_FALSE(store_->AddSettingIfAbsent("owner_token_sha256", "later").value());
  EXPECT_EQ(store_->GetSetting("owner_token_sha256").value(), kept);
}

TEST_P(StoreTest, TwoConnectionsRacingNeverLeaseMoreThanTheCap) {
  Approve(Create("g1", 100, 50));
  auto other = Open();  // a second connection, as a second broker process would have
  int granted = 0;
  std::thread t([&] {
    for (int i = 0; i < 40; ++i)
      if (other->Metering().TakeLease("g1", "n2", {0, 1}, {0, 1}, AWrite())) ++granted;
  });
  int mine = 0;
  for (int i = 0; i < 40; ++i)
    if (store_->Metering().TakeLease("g1", "n1", {0, 1}, {0, 1}, AWrite())) ++mine;
  t.join();
  EXPECT_EQ(granted + mine, 50);
  EXPECT_EQ(store_->Grants().GetGrant("g1")->leased_requests, 50);
}

TEST_P(StoreTest, AddsUsageUpPerDayAndModel) {
  Create("g1", 100);
  Create("g2", 100);
  ASSERT_TRUE(store_->Metering().Settle("n1", AWrite(), {{"g1", "2026-11-28", "gpt-4o", 1, 10, 2, 5, 0, 7}}));
  ASSERT_TRUE(store_->Metering().Settle("n1", AWrite(),
                                        {{"g1", "2026-11-28", "gpt-4o", 1, 20, 0, 7, 0, 9},
                                         {"g1", "2026-11-28", "whisper-1", 1, 0, 0, 0, 3500, 350},
                                         {"g1", "2026-11-27", "gpt-4o", 1, 1, 0, 1, 0, 1},
                                         {"g2", "2026-11-28", "gpt-4o", 1, 100, 0, 100, 0, 100}}));
  auto rows = store_->Metering().ListUsage("g1", std::nullopt, 100).value();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].day, "2026-11-27");
  EXPECT_EQ(rows[1].model, "gpt-4o");
  EXPECT_EQ(rows[1].requests, 2);
  EXPECT_EQ(rows[1].input_tokens, 30);
  EXPECT_EQ(rows[1].cached_input_tokens, 2);
  EXPECT_EQ(rows[1].output_tokens, 12);
  EXPECT_EQ(rows[1].cost_micros, 16);
  EXPECT_EQ(rows[2].model, "whisper-1");
  EXPECT_EQ(rows[2].audio_milliseconds, 3500);
  EXPECT_EQ(store_->Grants().GetGrant("g1")->spent_micros, 367);
  EXPECT_TRUE(store_->Metering().ListUsage("nope", std::nullopt, 100).value().empty());
}

TEST_P(StoreTest, OwnersHaveUniqueNamesAndLoseTheirSessionsWithTheirPassword) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"o1", "alice", "$argon2id$one", 100}));
  EXPECT_EQ(store_->Identity().CreateOwner({"o2", "alice", "$argon2id$two", 100}).error().code, Errc::kBadRequest);
  ASSERT_TRUE(store_->Identity().CreateOwner({"o3", "bob", "$argon2id$three", 100}));
  EXPECT_EQ(store_->Identity().GetOwnerByName("alice").value().id, "o1");
  EXPECT_EQ(store_->Identity().GetOwner("o3").value().username, "bob");
  EXPECT_EQ(store_->Identity().GetOwnerByName("carol").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->Identity().ListOwners().value().size(), 2u);

  ASSERT_TRUE(store_->Identity().CreateSession({"s1", "o1", "csrf1", 200, 200}, "$argon2id$one"));
  ASSERT_TRUE(store_->Identity().CreateSession({"s2", "o3", "csrf2", 200, 200}, "$argon2id$three"));
  ASSERT_TRUE(store_->Identity().TouchSession("s1", 260));
  EXPECT_EQ(store_->Identity().GetSession("s1").value().last_seen_at, 260);
  ASSERT_TRUE(store_->Identity().SetOwnerPassword("alice", "$argon2id$new"));
  EXPECT_EQ(store_->Identity().GetOwnerByName("alice").value().password_hash, "$argon2id$new");
  EXPECT_EQ(store_->Identity().GetSession("s1").error().code, Errc::kNotFound) << "a new password ends the sessions";
  EXPECT_TRUE(store_->Identity().GetSession("s2")) << "other owners keep theirs";
  // A sign-in that checked the old password before the change does not start a session after it.
  EXPECT_EQ(store_->Identity().CreateSession({"late", "o1", "csrf", 270, 270}, "$argon2id$one").error().code,
            Errc::kUnauthorized);
  EXPECT_EQ(store_->Identity().GetSession("late").error().code, Errc::kNotFound);
  ASSERT_TRUE(store_->Identity().DeleteOwner("bob"));
  EXPECT_EQ(store_->Identity().GetSession("s2").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->Identity().CreateSession({"gone", "o3", "csrf", 280, 280}, "$argon2id$three").error().code,
            Errc::kUnauthorized)
      << "nor one for an owner removed meanwhile";
  EXPECT_EQ(store_->Identity().CreateSession({"none", "o9", "csrf", 280, 280}, "").error().code, Errc::kUnauthorized);
  EXPECT_EQ(store_->Identity().DeleteOwner("bob").error().code, Errc::kNotFound);
  ASSERT_TRUE(store_->Identity().CreateSession({"s3", "o1", "csrf3", 300, 300}, "$argon2id$new"));
  ASSERT_TRUE(store_->Identity().DeleteSession("s3"));
  EXPECT_EQ(store_->Identity().GetSession("s3").error().code, Errc::kNotFound);
}

TEST_P(StoreTest, TheDatabaseTellsItsClock) {
  int64_t mine = SystemClock()();
  auto now = store_->Metering().DatabaseNow();
  ASSERT_TRUE(now) << now.error().message;
  EXPECT_LE(std::abs(*now - mine), 2) << "the database's clock in whole seconds since 1970";
}

TEST_P(StoreTest, EndedSessionsAreDeletedAndLiveOnesKept) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"o1", "alice", "$argon2id$one", 100}));
  ASSERT_TRUE(
      store_->Identity().CreateSession({"idle", "o1", "c", 100, 150}, "$argon2id$one"));  // last seen too long ago
  ASSERT_TRUE(store_->Identity().CreateSession({"old", "o1", "c", 50, 990}, "$argon2id$one"));  // started too long ago
  ASSERT_TRUE(store_->Identity().CreateSession({"live", "o1", "c", 900, 990}, "$argon2id$one"));
  EXPECT_EQ(store_->Identity().DeleteEndedSessions(200, 100).value(), 2);
  EXPECT_EQ(store_->Identity().GetSession("idle").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->Identity().GetSession("old").error().code, Errc::kNotFound);
  EXPECT_TRUE(store_->Identity().GetSession("live"));
  EXPECT_EQ(store_->Identity().DeleteEndedSessions(200, 100).value(), 0);
}

TEST_P(StoreTest, ClientsKeepTheirRedirectUris) {
  ClientRecord c{"notes-app",
                 "Notes",
                 "https://notes.example",
                 "",
                 {"https://notes.example/cb", "http://127.0.0.1/cb"},
                 true,
                 "abc",
                 false,
                 100};
  ASSERT_TRUE(store_->OAuth().CreateClient(c));
  EXPECT_EQ(store_->OAuth().CreateClient(c).error().code, Errc::kBadRequest);
  auto read = store_->OAuth().GetClient("notes-app").value();
  EXPECT_EQ(read.redirect_uris, c.redirect_uris);
  EXPECT_TRUE(read.confidential);
  EXPECT_EQ(store_->OAuth().ListClients().value().size(), 1u);
  ClientRecord edited = c;
  edited.name = "Notes 2";
  edited.home_url = "";
  edited.redirect_uris = {"https://notes.example/cb2"};
  edited.secret_hash = "ignored";
  ASSERT_TRUE(store_->OAuth().UpdateClient(edited));
  auto after = store_->OAuth().GetClient("notes-app").value();
  EXPECT_EQ(after.name, "Notes 2");
  EXPECT_EQ(after.home_url, "");
  EXPECT_EQ(after.redirect_uris, edited.redirect_uris);
  EXPECT_EQ(after.secret_hash, "abc") << "an edit never changes the secret";
  edited.id = "nobody";
  EXPECT_EQ(store_->OAuth().UpdateClient(edited).error().code, Errc::kNotFound);
  ASSERT_TRUE(store_->OAuth().DeleteClient("notes-app"));
  EXPECT_EQ(store_->OAuth().GetClient("notes-app").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->OAuth().DeleteClient("notes-app").error().code, Errc::kNotFound);
}

TEST_P(StoreTest, ACodeIsRedeemedOnceAndAReplayNamesItsGrant) {
  ASSERT_TRUE(store_->OAuth().CreateAuthorizationCode(
      {"h1", "app", "https://a/cb", "challenge", "g1", 500, "https://b/openai/v1 https://b/proxy"}));
  // Read as issued, without being used.
  for (int read = 0; read < 2; ++read) {
    auto issued = store_->OAuth().GetAuthorizationCode("h1").value();
    EXPECT_EQ(issued.client_id, "app");
    EXPECT_EQ(issued.redirect_uri, "https://a/cb");
    EXPECT_EQ(issued.expires_at, 500);
  }
  EXPECT_EQ(store_->OAuth().GetAuthorizationCode("nope").error().code, Errc::kNotFound);
  auto first = store_->OAuth().RedeemAuthorizationCode("h1", 200).value();
  ASSERT_TRUE(first.code);
  EXPECT_EQ(first.code->grant_id, "g1");
  EXPECT_EQ(first.code->code_challenge, "challenge");
  EXPECT_EQ(first.code->resources, "https://b/openai/v1 https://b/proxy");
  auto second = store_->OAuth().RedeemAuthorizationCode("h1", 201).value();
  EXPECT_FALSE(second.code);
  EXPECT_EQ(second.replayed_grant_id, "g1");
  EXPECT_EQ(store_->OAuth().RedeemAuthorizationCode("nope", 200).error().code, Errc::kNotFound);
}

TEST_P(StoreTest, ConcurrentRedemptionsOfOneCodeGiveOneCode) {
  ASSERT_TRUE(store_->OAuth().CreateAuthorizationCode({"h2", "app", "https://a/cb", "c", "g2", 500, ""}));
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto own = GetParam().open(dir_);
      auto r = own->OAuth().RedeemAuthorizationCode("h2", 300);
      if (r && r->code) ++winners;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners, 1);
}

TEST_P(StoreTest, RefreshTokensAreUsedOnceAndFamiliesRevokedTogether) {
  ASSERT_TRUE(store_->OAuth().CreateRefreshToken({"r1", "fam", "g1", "app", 100, "jkt-1", "https://b/anthropic"}));
  ASSERT_TRUE(store_->OAuth().CreateRefreshToken({"r2", "fam", "g1", "app", 110, "", ""}));
  EXPECT_EQ(store_->OAuth().GetRefreshToken("r1")->jkt, "jkt-1");
  EXPECT_EQ(store_->OAuth().GetRefreshToken("r1")->resources, "https://b/anthropic");
  auto first = store_->OAuth().UseRefreshToken("r1", 120, {"r1-next", "jkt-2"}).value();
  ASSERT_TRUE(first.fresh);
  EXPECT_EQ(first.fresh->family_id, "fam");
  EXPECT_EQ(first.fresh->jkt, "jkt-1");
  EXPECT_EQ(first.fresh->resources, "https://b/anthropic");
  auto next = store_->OAuth().GetRefreshToken("r1-next").value();
  EXPECT_EQ(next.family_id, "fam");
  EXPECT_EQ(next.grant_id, "g1");
  EXPECT_EQ(next.client_id, "app");
  EXPECT_EQ(next.created_at, 120);
  EXPECT_EQ(next.jkt, "jkt-2");
  EXPECT_EQ(next.resources, "https://b/anthropic");
  auto again = store_->OAuth().UseRefreshToken("r1", 130, {"r1-again", ""}).value();
  EXPECT_FALSE(again.fresh);
  ASSERT_TRUE(again.reused);
  EXPECT_EQ(again.reused->grant_id, "g1");
  EXPECT_EQ(store_->OAuth().GetRefreshToken("r1-again").error().code, Errc::kNotFound) << "a replay has no successor";
  ASSERT_TRUE(store_->OAuth().RevokeRefreshFamily("fam", 140));
  auto revoked = store_->OAuth().UseRefreshToken("r2", 150, {"r2-next", ""}).value();
  EXPECT_FALSE(revoked.fresh) << "a revoked family's tokens no longer work";
  EXPECT_EQ(store_->OAuth().GetRefreshToken("r2-next").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->OAuth().UseRefreshToken("nope", 150, {"nope-next", ""}).error().code, Errc::kNotFound);
}

TEST_P(StoreTest, ARefreshTokenIsNotUsedUpWhenItsSuccessorCannotBeStored) {
  ASSERT_TRUE(store_->OAuth().CreateRefreshToken({"r1", "fam", "g1", "app", 100, "", ""}));
  ASSERT_TRUE(store_->OAuth().CreateRefreshToken({"taken", "fam", "g1", "app", 100, "", ""}));
  EXPECT_FALSE(store_->OAuth().UseRefreshToken("r1", 120, {"taken", ""})) << "its successor's hash is taken";
  auto use = store_->OAuth().UseRefreshToken("r1", 130, {"r1-next", ""}).value();
  EXPECT_TRUE(use.fresh) << "the failed use was rolled back: the token still works";
  EXPECT_TRUE(store_->OAuth().GetRefreshToken("r1-next"));
}

ActivityRecord Call(UnixMillis at, const std::string& grant, const std::string& owner, int status = 200) {
  ActivityRecord r;
  r.at = at;
  r.grant_id = grant;
  r.app_name = "App " + grant;
  r.owner_id = owner;
  r.provider = "openai";
  r.model = "gpt-4o-mini";
  r.capability = "chat";
  r.status = status;
  r.input_tokens = 11;
  r.output_tokens = 7;
  r.cost_micros = 42;
  r.latency_ms = 5;
  return r;
}

TEST_P(StoreTest, ActivitySumsPerBucketAppAndModel) {
  std::vector<ActivityRecord> rows{Call(1000, "g1", "alice"), Call(1009, "g1", "alice"), Call(1010, "g1", "alice"),
                                   Call(1015, "g2", "alice"), Call(1012, "g1", "bob"), Call(990, "g1", "alice")};
  rows[1].model = "gpt-4o";
  ASSERT_TRUE(store_->Activity().AddActivity(rows));
  ActivityQuery q;
  q.owner_id = "alice";
  q.from = 1000;
  q.to = 1020;
  auto sums = store_->Activity().SumActivity(q, 10, 10).value();
  ASSERT_EQ(sums.size(), 4u);
  auto find = [&](UnixMillis bucket, const std::string& app, const std::string& model) -> const ActivityTotal* {
    for (const auto& t : sums)
      if (t.bucket == bucket && t.app_name == app && t.model == model) return &t;
    return nullptr;
  };
  ASSERT_NE(find(1000, "App g1", "gpt-4o-mini"), nullptr);
  EXPECT_EQ(find(1000, "App g1", "gpt-4o-mini")->calls, 1);
  ASSERT_NE(find(1000, "App g1", "gpt-4o"), nullptr);
  ASSERT_NE(find(1010, "App g1", "gpt-4o-mini"), nullptr);
  const ActivityTotal* g2 = find(1010, "App g2", "gpt-4o-mini");
  ASSERT_NE(g2, nullptr);
  EXPECT_EQ(g2->cost_micros, 42);
  EXPECT_EQ(g2->input_tokens, 11);
  EXPECT_EQ(g2->output_tokens, 7);
  q.from.reset();
  EXPECT_FALSE(store_->Activity().SumActivity(q, 10, 10));
}

// Calls refused for their model can name any model: past the named ones, the sums are one group
// per bucket and app, however many names the calls gave.
TEST_P(StoreTest, ActivitySumsNameOnlyTheModelsThatCostMost) {
  std::vector<ActivityRecord> rows{Call(1000, "g1", "alice"), Call(1001, "g1", "alice"), Call(1002, "g1", "alice")};
  rows[1].model = "gpt-4o";
  rows[1].cost_micros = 500;
  for (int i = 0; i < 50; ++i) {
    ActivityRecord refused = Call(1003 + i % 10, "g1", "alice", 403);
    refused.model = "invented-" + std::to_string(i);
    refused.cost_micros = 0;
    refused.refusal = "model_not_allowed";
    rows.push_back(refused);
  }
  ASSERT_TRUE(store_->Activity().AddActivity(rows));
  ActivityQuery q;
  q.owner_id = "alice";
  q.from = 1000;
  q.to = 1020;
  auto sums = store_->Activity().SumActivity(q, 20, 2).value();
  ASSERT_EQ(sums.size(), 3u);
  std::map<std::string, int64_t> calls;
  for (const auto& t : sums) calls[t.other_models ? "(other)" : t.model] += t.calls;
  EXPECT_EQ(calls["gpt-4o"], 1);
  EXPECT_EQ(calls["gpt-4o-mini"], 2);
  EXPECT_EQ(calls["(other)"], 50);
  EXPECT_EQ(store_->Activity().SumActivity(q, 20, 0).value().size(), 1u) << "no model named: one group";
}

TEST_P(StoreTest, AFlushOfManyActivityRowsKeepsEachRowAndItsOrder) {
  std::vector<ActivityRecord> rows;
  for (int i = 0; i < 87; ++i) {  // 64 + 16 + 4 + 1 + 1 + 1: every batch size the insert uses
    rows.push_back(Call(5000 + i, i % 3 ? "g1" : "g2", "alice", i % 5 ? 200 : 429));
    rows.back().input_tokens = i;
    rows.back().latency_ms = 1000 + i;
    if (i % 5 == 0) rows.back().refusal = "rate_limit_exceeded";
  }
  ASSERT_TRUE(store_->Activity().AddActivity(rows));
  ActivityQuery all;
  all.limit = 200;
  auto stored = store_->Activity().ListActivity(all).value();
  ASSERT_EQ(stored.size(), rows.size());
  std::reverse(stored.begin(), stored.end());  // listed newest first
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(stored[i].at, rows[i].at) << i;
    EXPECT_EQ(stored[i].grant_id, rows[i].grant_id) << i;
    EXPECT_EQ(stored[i].input_tokens, rows[i].input_tokens) << i;
    EXPECT_EQ(stored[i].latency_ms, rows[i].latency_ms) << i;
    EXPECT_EQ(stored[i].status, rows[i].status) << i;
    EXPECT_EQ(stored[i].refusal, rows[i].refusal) << i;
    if (i > 0) {
      EXPECT_GT(stored[i].id, stored[i - 1].id) << i;
    }
  }
}

// Each batch's rows get ids no row had, after the last batch's, whatever their times: a row that
// happened earlier but was written later still comes after its peers of the same time.
TEST_P(StoreTest, ActivityIdsGoOnAcrossBatchesAndListByTimeThenId) {
  ASSERT_TRUE(store_->Activity().AddActivity({Call(2000, "g1", "alice"), Call(3000, "g1", "alice")}));
  std::vector<ActivityRecord> later{Call(2000, "g1", "alice"), Call(1000, "g1", "alice")};
  later[0].model = "written-later";
  ASSERT_TRUE(store_->Activity().AddActivity(later));
  ASSERT_TRUE(store_->Activity().AddActivity({Call(2500, "g1", "alice")}));
  ActivityQuery all;
  all.limit = 10;
  auto stored = store_->Activity().ListActivity(all).value();  // newest first
  ASSERT_EQ(stored.size(), 5u);
  std::vector<UnixMillis> times;
  for (const auto& r : stored) times.push_back(r.at);
  EXPECT_EQ(times, (std::vector<UnixMillis>{3000, 2500, 2000, 2000, 1000}));
  EXPECT_EQ(stored[2].model, "written-later") << "of two rows at 2000, the one written later lists first";
  EXPECT_GT(stored[2].id, stored[3].id);
  EXPECT_GT(stored[1].id, stored[0].id) << "the last batch's id is the highest";
  EXPECT_GT(stored[4].id, stored[0].id) << "a row written later takes a later id, however early it happened";
  std::vector<int64_t> ids;
  for (const auto& r : stored) ids.push_back(r.id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end()) << "ids are unique";
}

// A flush as large as the recorder makes (2,000 rows), with long text: more than a megabyte, which
// goes to PostgreSQL in several pieces.
TEST_P(StoreTest, ALargeFlushOfActivityKeepsEveryRow) {
  std::vector<ActivityRecord> rows;
  for (int i = 0; i < 2000; ++i) {
    rows.push_back(Call(10'000 + i, "g1", "alice"));
    rows.back().app_name = std::string(600, static_cast<char>('a' + i % 26));
  }
  ASSERT_TRUE(store_->Activity().AddActivity(rows));
  ActivityQuery all;
  all.limit = 3000;
  auto stored = store_->Activity().ListActivity(all).value();
  ASSERT_EQ(stored.size(), rows.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    const auto& r = stored[stored.size() - 1 - i];  // listed newest first
    ASSERT_EQ(r.at, rows[i].at);
    ASSERT_EQ(r.app_name, rows[i].app_name);
  }
}

// A batch larger than one statement holds, with text that means something to some layer on the way
// (tabs, newlines, backslashes, \N, UTF-8): every value comes back as it went in, on both engines.
TEST_P(StoreTest, ActivityKeepsTextExactlyAndTakesABatchWholeOrNotAtAll) {
  std::vector<ActivityRecord> rows;
  for (int i = 0; i < 70; ++i) rows.push_back(Call(1000 + i, "g1", "alice"));  // more than one INSERT holds
  rows[3].app_name = "Tab\there\nnew\\line \\N \tend";
  rows[3].app_name += "\t\n\r\\";
  rows[3].refusal = "\\N";
  rows[4].app_name = "\xc3\xa9t\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80";
  rows[5].ttft_ms = 0;
  rows[6].ttft_ms = std::nullopt;
  ASSERT_TRUE(store_->Activity().AddActivity(rows));
  ActivityQuery all;
  all.limit = 100;
  auto got = store_->Activity().ListActivity(all).value();
  ASSERT_EQ(got.size(), 70u);
  auto at = [&](UnixMillis when) {
    for (const auto& r : got)
      if (r.at == when) return r;
    return ActivityRecord{};
  };
  EXPECT_EQ(at(1003).app_name, rows[3].app_name);
  EXPECT_EQ(at(1003).refusal, "\\N");
  EXPECT_EQ(at(1004).app_name, rows[4].app_name);
  EXPECT_EQ(at(1005).ttft_ms, 0);
  EXPECT_EQ(at(1006).ttft_ms, std::nullopt);
  EXPECT_EQ(at(1069).model, "gpt-4o-mini");

  // A value PostgreSQL's text cannot hold in one row: the whole batch fails, nothing of it is kept
  // (callers keep such values out: see CallActivity::SetModel).
  std::vector<ActivityRecord> bad{Call(5000, "g2", "bob"), Call(5001, "g2", "bob")};
  bad[1].model = std::string("a\0b", 3);
  if (std::string_view(GetParam().name) == "Postgres") {
    auto refused = store_->Activity().AddActivity(bad);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::kInternal) << "values that can never be stored: not worth a retry";
    ActivityQuery g2;
    g2.grant_id = "g2";
    EXPECT_TRUE(store_->Activity().ListActivity(g2).value().empty());
    // g2 and bob were numbered before the refused batch, in a transaction of their own: a later
    // row of theirs reads back under their ids.
    ASSERT_TRUE(store_->Activity().AddActivity({Call(5002, "g2", "bob")}));
    auto kept = store_->Activity().ListActivity(g2).value();
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_EQ(kept[0].grant_id, "g2");
    EXPECT_EQ(kept[0].owner_id, "bob");
    // Numbering itself fails on an id PostgreSQL's text cannot hold, after g3 (sorted first) got its
    // number: that number went with the transaction, and a later row of g3 still reads back as g3.
    ASSERT_FALSE(store_->Activity().AddActivity({Call(5003, "g3", std::string("o\0x", 3))}));
    ASSERT_TRUE(store_->Activity().AddActivity({Call(5004, "g3", "carol")}));
    ActivityQuery g3;
    g3.grant_id = "g3";
    auto g3_rows = store_->Activity().ListActivity(g3).value();
    ASSERT_EQ(g3_rows.size(), 1u);
    EXPECT_EQ(g3_rows[0].grant_id, "g3");
  }
}

// Two brokers recording the first calls of the same new grants, in opposite orders: each numbers
// the new ids before its batch, in one order, so that on PostgreSQL neither waits for the other's
// batch (numbering them inside the batches deadlocked there, and one batch failed).
TEST_P(StoreTest, TwoConnectionsNumberingTheSameNewIdsInOppositeOrdersBothKeepTheirBatches) {
  auto other = Open();
  constexpr int kRounds = 10, kGrants = 20;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<ActivityRecord> mine, theirs;
    for (int i = 0; i < kGrants; ++i) {
      std::string grant = "g" + std::to_string(round) + "-" + std::to_string(i);
      mine.push_back(Call(100000 * round + i, grant, "owner-" + std::to_string(round)));
      theirs.insert(theirs.begin(), Call(100000 * round + 1000 + i, grant, "owner-" + std::to_string(round)));
    }
    std::atomic<int> ready{0};
    Status their_batch;
    std::thread t([&] {
      ++ready;
      while (ready < 2) std::this_thread::yield();
      their_batch = other->Activity().AddActivity(theirs);
    });
    ++ready;
    while (ready < 2) std::this_thread::yield();
    Status my_batch = store_->Activity().AddActivity(mine);
    t.join();
    EXPECT_TRUE(my_batch) << "round " << round << ": " << my_batch.error().message;
    EXPECT_TRUE(their_batch) << "round " << round << ": " << their_batch.error().message;
  }
  ActivityQuery one;
  one.grant_id = "g3-7";
  auto rows = store_->Activity().ListActivity(one).value();
  ASSERT_EQ(rows.size(), 2u) << "each broker's row of the grant";
  EXPECT_EQ(rows[0].grant_id, "g3-7");
  EXPECT_EQ(rows[1].owner_id, "owner-3");
}

// Apps registered before they had to be allowed the device flow keep it; new ones are not.
TEST_P(StoreTest, AppsRegisteredBeforeTheDeviceGrantWasAskedKeepIt) {
  {
    auto db = FreshDatabaseUpTo(22, 10);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec(
        "INSERT INTO clients (id, name, home_url, logo_url, redirect_uris, confidential, secret_hash, dpop_required, "
        "created_at) VALUES ('old', 'Old', '', '', 'https://a.example/cb', 0, '', 0, 1)"));
  }
  store_ = Open();
  EXPECT_TRUE(store_->OAuth().GetClient("old")->device_grant);
  ASSERT_TRUE(store_->OAuth().CreateClient({"new", "New", "", "", {"https://b.example/cb"}, false, "", false, 2}));
  EXPECT_FALSE(store_->OAuth().GetClient("new")->device_grant);
}

// Grants made before they named their app learn it from what its flow left: a code, a refresh
// token, a sign-in or device code waiting, a token's use. Neither a child (its exchanging app is not the one
// that asked) nor one of the reference's flow learns one. Removing an app lists its live grants only.
TEST_P(StoreTest, GrantsMadeBeforeTheyNamedTheirAppLearnItFromTheirFlow) {
  {
    auto db = FreshDatabaseUpTo(24, 12);
    ASSERT_TRUE(db);
    for (std::string id :
         {"by-code", "by-refresh", "by-pending", "by-device", "by-use", "reference", "revoked", "child"}) {
      ASSERT_TRUE(db->Exec(("INSERT INTO grant_requests (id, app_name, app_url, scope_json, reason, created_at) "
                            "VALUES ('req-" +
                            id + "', 'App', 'https://app.example', '{}', 'r', 1)")
                               .c_str()));
      std::string status = id == "revoked" ? "revoked" : "approved", ancestors = id == "child" ? "by-refresh" : "";
      ASSERT_TRUE(db->Exec(("INSERT INTO grants (id, request_id, app_name, app_url, reason, scope_json, status, "
                            "created_at, request_secret_hash, ancestors) VALUES ('" +
                            id + "', 'req-" + id + "', 'App', 'https://app.example', 'r', '{}', '" + status +
                            "', 1, 'h', '" + ancestors + "')")
                               .c_str()));
    }
    ASSERT_TRUE(
        db->Exec("INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, grant_id, "
                 "expires_at) VALUES ('c', 'app-a', 'https://a.example/cb', 'x', 'by-code', 9)"));
    ASSERT_TRUE(
        db->Exec("INSERT INTO refresh_tokens (token_hash, family_id, grant_id, client_id, created_at) VALUES "
                 "('h1', 'f1', 'by-refresh', 'app-a', 1), ('h2', 'f2', 'revoked', 'app-a', 1)"));
    ASSERT_TRUE(db->Exec(
        "INSERT INTO pending_authorizations (grant_id, client_id, redirect_uri, state, code_challenge, "
        "lifetime_seconds, expires_at) VALUES ('by-pending', 'app-a', 'https://a.example/cb', 's', 'c', 60, 9)"));
    ASSERT_TRUE(
        db->Exec("INSERT INTO device_authorizations (device_code_hash, user_code_hash, client_id, scope_json, "
                 "lifetime_seconds, reason, grant_id, decision, poll_interval, last_poll, expires_at) VALUES "
                 "('d', 'u', 'app-a', '{}', 60, 'r', 'by-device', 'approved', 5, 0, 9)"));
    ASSERT_TRUE(
        db->Exec("INSERT INTO token_uses (token_id, grant_id, client_id, issued_at, expires_at, first_used_at, "
                 "last_used_at, calls) VALUES ('t1', 'by-use', 'app-b', 1, 2, 1, 2, 1), "
                 "('t2', 'reference', '', 1, 2, 1, 2, 1), ('t3', 'child', 'app-a', 1, 2, 1, 2, 1)"));
  }
  store_ = Open();
  auto app_of = [&](const char* id) { return store_->Grants().GetGrant(id).value().client_id; };
  for (const char* id : {"by-code", "by-refresh", "by-pending", "by-device", "revoked"})
    EXPECT_EQ(app_of(id), std::optional<std::string>("app-a")) << id;
  EXPECT_EQ(app_of("by-use"), std::optional<std::string>("app-b"));
  EXPECT_EQ(app_of("reference"), std::nullopt);
  EXPECT_EQ(app_of("child"), std::nullopt);
  EXPECT_EQ(store_->Grants().ListLiveGrantsOfClient("app-a", 10).value(),
            (std::vector<std::string>{"by-code", "by-device", "by-pending", "by-refresh"}));
  EXPECT_EQ(store_->Grants().ListLiveGrantsOfClient("app-a", 2).value().size(), 2u);
  EXPECT_EQ(store_->Grants().ListLiveGrantsOfClient("app-b", 10).value(), std::vector<std::string>{"by-use"});

  // A grant made now keeps the app it names.
  GrantRecord fresh = PendingGrant("fresh", 5, {});
  fresh.client_id = "app-c";
  ASSERT_TRUE(store_->Grants().CreateGrantRequest(Request("req-fresh", 5), fresh));
  EXPECT_EQ(app_of("fresh"), std::optional<std::string>("app-c"));
  EXPECT_EQ(store_->Grants().ListLiveGrantsOfClient("app-c", 10).value(), std::vector<std::string>{"fresh"});
}

// Changes are pruned only as a run from the oldest: one stamped early (a writer whose clock was
// behind, before changes were stamped by the database) between kept ones stays, so a follower that
// had not read it either reads it or finds the first kept change past its own, never a hole.
TEST_P(StoreTest, ChangesArePrunedOnlyFromTheOldestUpToTheFirstRecentOne) {
  UnixSeconds now = SystemNow();
  {
    auto db = FreshDatabaseUpTo(1000, 1000);
    ASSERT_TRUE(db);
    std::string rows;
    for (UnixSeconds at : {now - 7200, now - 7300, now - 10, now - 7200, now})
      rows += std::string(rows.empty() ? "" : ", ") + "(" + std::to_string(at) + ", 'grant', 'g')";
    ASSERT_TRUE(db->Exec(("INSERT INTO changes (at, kind, subject) VALUES " + rows).c_str()));
  }
  store_ = Open();
  auto span = store_->Changes().KeptChanges({}).value();
  int64_t first = span.first;
  EXPECT_EQ(span.last - span.first, 4);
  ASSERT_TRUE(store_->Changes().PruneChanges(3600));
  std::vector<int64_t> kept;
  for (const auto& change : store_->Changes().ChangesAfter(0, 10).value()) kept.push_back(change.seq - first);
  EXPECT_EQ(kept, (std::vector<int64_t>{2, 3, 4})) << "the two old ones before the first recent one";
  ASSERT_TRUE(store_->Changes().PruneChanges(-10));
  span = store_->Changes().KeptChanges({}).value();
  EXPECT_EQ(span.first, span.last) << "the newest stays";
  EXPECT_EQ(span.last, store_->Changes().LastChange().value());
}

// Rows written before activity named its grant and owner by number: the migration numbers them,
// they read back the same by grant and by owner, and new rows' ids go on after the last one handed
// out (here the newest row, deleted before the upgrade).
TEST_P(StoreTest, ActivityWrittenBeforeNumberingReadsBackTheSameAfterTheUpgrade) {
  {
    auto db = FreshDatabaseUpTo(20, 8);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec(
        "INSERT INTO activity (at, grant_id, app_name, owner_id, provider, model, capability, status, input_tokens, "
        "output_tokens, cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal) VALUES "
        "(1000, 'g1', 'App g1', 'alice', 'openai', 'gpt-4o-mini', 'chat', 200, 10, 20, 0, 30, 40, 5, 1, ''), "
        "(2000, 'g2', 'App g2', 'bob', 'anthropic', 'claude', 'chat', 429, 0, 0, 0, 0, 1, NULL, 0, 'rate'), "
        "(3000, 'g1', 'App g1', 'alice', 'openai', 'gpt-4o-mini', 'chat', 200, 1, 1, 0, 1, 1, NULL, 0, '')"));
    ASSERT_TRUE(db->Exec("DELETE FROM activity WHERE at = 3000"));
  }
  store_ = Open();
  ActivityQuery everything;
  auto rows = store_->Activity().ListActivity(everything).value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].id, 2);
  EXPECT_EQ(rows[0].grant_id, "g2");
  EXPECT_EQ(rows[0].owner_id, "bob");
  EXPECT_EQ(rows[0].provider, "anthropic");
  EXPECT_EQ(rows[0].status, 429);
  EXPECT_EQ(rows[0].refusal, "rate");
  EXPECT_EQ(rows[0].ttft_ms, std::nullopt);
  EXPECT_EQ(rows[1].id, 1);
  EXPECT_EQ(rows[1].grant_id, "g1");
  EXPECT_EQ(rows[1].owner_id, "alice");
  EXPECT_EQ(rows[1].output_tokens, 20);
  EXPECT_EQ(rows[1].ttft_ms, 5);
  EXPECT_TRUE(rows[1].streamed);

  ASSERT_TRUE(store_->Activity().AddActivity({Call(4000, "g1", "alice")}));
  ActivityQuery g1;
  g1.grant_id = "g1";
  auto of_g1 = store_->Activity().ListActivity(g1).value();
  ASSERT_EQ(of_g1.size(), 2u);
  EXPECT_EQ(of_g1[0].id, 4) << "after the last id handed out, not after the last one kept";
  EXPECT_EQ(of_g1[1].id, 1);
  ActivityQuery bob;
  bob.owner_id = "bob";
  ASSERT_EQ(store_->Activity().ListActivity(bob).value().size(), 1u);
}

TEST_P(StoreTest, ActivityPagesNewestFirstWithFilters) {
  std::vector<ActivityRecord> rows;
  for (int i = 0; i < 7; ++i) rows.push_back(Call(1000 + i * 10, i % 2 ? "g1" : "g2", i % 2 ? "alice" : "bob"));
  rows.push_back(Call(1030, "g1", "alice", 429));  // the same time as another row: the id breaks the tie
  rows.back().refusal = "rate_limit_exceeded";
  rows.back().ttft_ms = 3;
  rows.back().streamed = true;
  ASSERT_TRUE(store_->Activity().AddActivity(rows));

  ActivityQuery all;
  all.limit = 3;
  std::vector<ActivityRecord> seen;
  for (;;) {
    auto page = store_->Activity().ListActivity(all).value();
    seen.insert(seen.end(), page.begin(), page.end());
    if (page.size() < 3) break;
    all.after = RecordCursor{page.back().at, page.back().id};
  }
  ASSERT_EQ(seen.size(), 8u);
  for (size_t i = 1; i < seen.size(); ++i)
    EXPECT_TRUE(seen[i - 1].at > seen[i].at || (seen[i - 1].at == seen[i].at && seen[i - 1].id > seen[i].id));
  EXPECT_EQ(seen[0].at, 1060);

  ActivityQuery alice;
  alice.owner_id = "alice";
  auto mine = store_->Activity().ListActivity(alice).value();
  ASSERT_EQ(mine.size(), 4u);
  for (const auto& r : mine) EXPECT_EQ(r.owner_id, "alice");

  ActivityQuery refused;
  refused.status = 429;
  refused.from = 1030;
  refused.to = 1031;
  auto got = store_->Activity().ListActivity(refused).value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].refusal, "rate_limit_exceeded");
  EXPECT_EQ(got[0].ttft_ms, 3);
  EXPECT_TRUE(got[0].streamed);
  EXPECT_EQ(got[0].input_tokens, 11);
  EXPECT_EQ(got[0].cost_micros, 42);
}

// A prune deletes a page of the oldest rows at a time: a long-due one does not hold the store.
TEST_P(StoreTest, ActivityPrunesOnlyOldRowsThePageAskedForOldestFirst) {
  ASSERT_TRUE(store_->Activity().AddActivity(
      {Call(200, "g1", ""), Call(100, "g1", ""), Call(300, "g1", ""), Call(150, "g1", ""), Call(100, "g2", "")}));
  auto at_left = [this] {
    std::vector<int64_t> at;
    for (const auto& r : store_->Activity().ListActivity(ActivityQuery{}).value()) at.push_back(r.at);
    return at;
  };
  EXPECT_EQ(store_->Activity().PruneActivity(250, 2).value().rows, 2);
  EXPECT_EQ(at_left(), (std::vector<int64_t>{300, 200, 150}));
  EXPECT_EQ(store_->Activity().PruneActivity(250, 2).value().rows, 2);
  EXPECT_EQ(at_left(), (std::vector<int64_t>{300}));
  EXPECT_EQ(store_->Activity().PruneActivity(250, 2).value().rows, 0);
  EXPECT_EQ(at_left(), (std::vector<int64_t>{300}));
}

TEST_P(StoreTest, PagesGoBackToNewerRowsStillNewestFirst) {
  for (int i = 0; i < 6; ++i) Create("g" + std::to_string(i), 1000 + i);
  GrantQuery newer;
  newer.before = GrantCursor{1001, "g1"};
  newer.limit = 3;
  std::vector<std::string> ids;
  for (const auto& g : store_->Grants().ListGrantPage(newer).value()) ids.push_back(g.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"g4", "g3", "g2"})) << "the rows just newer than the cursor";

  std::vector<ActivityRecord> rows;
  for (int i = 0; i < 6; ++i) rows.push_back(Call(1000 + i * 10, "g1", "alice"));
  ASSERT_TRUE(store_->Activity().AddActivity(rows));
  auto all = store_->Activity().ListActivity(ActivityQuery{}).value();
  ActivityQuery back;
  back.before = RecordCursor{all[4].at, all[4].id};  // the second oldest
  back.limit = 2;
  auto page = store_->Activity().ListActivity(back).value();
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].at, 1030);
  EXPECT_EQ(page[1].at, 1020);
}

TEST_P(StoreTest, RecentEventsAndUsageFromADayComeFromTheEndOfALongRecord) {
  Approve(Create("g1", 100));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->Metering().AddEvent({"g1", 100 + i, "budget_threshold", "{}"}));
  auto newest = store_->Metering().ListRecentEvents("g1", std::nullopt, 2).value();
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].at, 104);
  EXPECT_EQ(newest[1].at, 103);
  auto older = store_->Metering().ListRecentEvents("g1", newest.back().id, 10).value();
  ASSERT_EQ(older.size(), 3u);
  EXPECT_EQ(older[0].at, 102);
  ASSERT_TRUE(store_->Metering().Settle("n1", AWrite(),
                                        {{"g1", "2025-01-01", "a", 1, 1, 0, 1, 0, 1},
                                         {"g1", "2026-11-27", "b", 1, 1, 0, 1, 0, 5},
                                         {"g1", "2026-11-28", "a", 2, 3, 0, 3, 0, 7}}));
  auto recent = store_->Metering().ListUsageFrom("g1", "2026-11-27", 10).value();
  ASSERT_EQ(recent.size(), 2u) << "the first day of a long-lived grant is not read";
  EXPECT_EQ(recent[0].day, "2026-11-27");
  EXPECT_EQ(recent[1].cost_micros, 7);
}

TEST_P(StoreTest, AnActivityRowNotesItsTokensLastUse) {
  auto a = Call(5000, "g1", "alice"), b = Call(9000, "g1", "alice"), c = Call(7000, "g1", "alice");
  for (auto* r : {&a, &b}) {
    r->token_id = "jti-1";
    r->token_issued_at = 4;
    r->token_expires_at = 3604;
  }
  c.token_id = "jti-2";
  c.client_id = "notes-app";
  ASSERT_TRUE(store_->Activity().AddActivity({a, b, c}));
  auto d = Call(6000, "g1", "alice");  // a late batch from another broker
  d.token_id = "jti-1";
  ASSERT_TRUE(store_->Activity().AddActivity({d}));
  auto uses = store_->Activity().ListTokenUses("g1", 10).value();
  ASSERT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses[0].token_id, "jti-1");
  EXPECT_EQ(uses[0].last_used_at, 9000) << "a late batch does not move the last use back";
  EXPECT_EQ(uses[0].first_used_at, 5000);
  EXPECT_EQ(uses[0].calls, 3);
  EXPECT_EQ(uses[0].issued_at, 4);
  EXPECT_EQ(uses[1].client_id, "notes-app");
  EXPECT_TRUE(store_->Activity().ListTokenUses("g2", 10).value().empty());
  auto pruned = store_->Activity().PruneActivity(8000, 1).value();
  EXPECT_EQ(pruned.rows, 1);
  EXPECT_EQ(pruned.token_uses, 1);
  pruned = store_->Activity().PruneActivity(8000, 10).value();
  EXPECT_EQ(pruned.rows, 2);
  EXPECT_EQ(pruned.token_uses, 0);
  uses = store_->Activity().ListTokenUses("g1", 10).value();
  ASSERT_EQ(uses.size(), 1u) << "a token last used before the record's horizon goes with its calls";
}

// A transaction of slices goes on while go_on() says so and commits the slices written when it
// says stop; go_on() is not asked after the last slice; the tokens' uses count the rows written.
TEST_P(StoreTest, ActivityInSlicesCommitsTheSlicesWrittenWhenToldToStop) {
  std::vector<ActivityRecord> rows;
  for (int i = 0; i < 10; ++i) {
    rows.push_back(Call(1000 + i, "g1", "alice"));
    rows.back().token_id = "jti-1";
  }
  int asked = 0;
  auto written = store_->Activity().AddActivityInSlices(rows, 4, [&] { return ++asked < 2; });
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(*written, 8u) << "two slices of 4, then told to stop";
  EXPECT_EQ(asked, 2);
  ActivityQuery g1;
  g1.grant_id = "g1";
  g1.limit = 100;
  EXPECT_EQ(store_->Activity().ListActivity(g1).value().size(), 8u);
  EXPECT_EQ(store_->Activity().ListTokenUses("g1", 10).value().at(0).calls, 8);

  asked = 0;
  written = store_->Activity().AddActivityInSlices(std::span(rows).subspan(8), 4, [&] { return ++asked > 0; });
  ASSERT_TRUE(written);
  EXPECT_EQ(*written, 2u);
  EXPECT_EQ(asked, 0) << "one slice holds the rest: nothing to ask";
  auto all = store_->Activity().ListActivity(g1).value();
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front().at, 1009);
  EXPECT_EQ(store_->Activity().ListTokenUses("g1", 10).value().at(0).calls, 10);
  EXPECT_EQ(store_->Activity().ListTokenUses("g1", 10).value().at(0).last_used_at, 1009);

  auto none = store_->Activity().AddActivityInSlices(rows, 0, [] { return true; });
  ASSERT_FALSE(none) << "slices of no rows would never end";
  EXPECT_EQ(store_->Activity().ListActivity(g1).value().size(), 10u);

  // A value PostgreSQL's text cannot hold in the third slice: the slices before it go too.
  if (std::string_view(GetParam().name) == "Postgres") {
    std::vector<ActivityRecord> later;
    for (int i = 0; i < 10; ++i) later.push_back(Call(3000 + i, "g4", "alice"));
    later[9].model = std::string("a\0b", 3);
    ASSERT_FALSE(store_->Activity().AddActivityInSlices(later, 4, [] { return true; }));
    ActivityQuery g4;
    g4.grant_id = "g4";
    EXPECT_TRUE(store_->Activity().ListActivity(g4).value().empty()) << "one transaction: all of it or nothing";
  }
}

TEST_P(StoreTest, RefreshFamiliesAreSummedPerGrant) {
  ASSERT_TRUE(store_->OAuth().CreateRefreshToken({"r1", "fam", "g1", "app", 100, "", ""}));
  ASSERT_TRUE(store_->OAuth().CreateRefreshToken({"r3", "other", "g1", "app", 200, "", ""}));
  ASSERT_TRUE(store_->OAuth().CreateRefreshToken({"r4", "elsewhere", "g2", "app", 300, "", ""}));
  ASSERT_TRUE(store_->OAuth().UseRefreshToken("r1", 120, {"r2", ""}));
  ASSERT_TRUE(store_->OAuth().RevokeRefreshFamily("other", 210));
  auto families = store_->OAuth().ListRefreshFamilies("g1", 10).value();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].family_id, "other");
  EXPECT_EQ(families[0].revoked_at, 210);
  EXPECT_EQ(families[1].started_at, 100);
  EXPECT_EQ(families[1].last_refreshed_at, 120);
  EXPECT_FALSE(families[1].revoked_at);
  EXPECT_EQ(families[1].tokens, 2);
}

TEST_P(StoreTest, CodesAndRefreshTokensThatEndedBeforeTheCutoffAreDeleted) {
  GrantRecord live = Approve(Create("live", 100));
  GrantRecord revoked = Approve(Create("revoked", 100));
  revoked.status = GrantStatus::kRevoked;
  revoked.revoked_at = 500;
  ASSERT_TRUE(store_->Grants().UpdateGrant(revoked));
  GrantRecord lately = Approve(Create("lately", 100));
  lately.status = GrantStatus::kRevoked;
  lately.revoked_at = 1500;
  ASSERT_TRUE(store_->Grants().UpdateGrant(lately));
  GrantRecord expired = Create("expired", 100);
  expired.status = GrantStatus::kApproved;
  expired.expires_at = 900;
  ASSERT_TRUE(store_->Grants().UpdateGrant(expired));
  OAuthStore& oauth = store_->OAuth();
  ASSERT_TRUE(oauth.CreateAuthorizationCode({"old-code", "app", "https://a/cb", "c", "live", 600, ""}));
  ASSERT_TRUE(oauth.CreateAuthorizationCode({"new-code", "app", "https://a/cb", "c", "live", 1100, ""}));
  ASSERT_TRUE(oauth.CreateRefreshToken({"live-used", "f1", "live", "app", 100, "", ""}));
  ASSERT_TRUE(oauth.UseRefreshToken("live-used", 200, {"live-current", ""}));
  ASSERT_TRUE(oauth.CreateRefreshToken({"live-family-revoked", "f2", "live", "app", 100, "", ""}));
  ASSERT_TRUE(oauth.RevokeRefreshFamily("f2", 300));
  ASSERT_TRUE(oauth.CreateRefreshToken({"of-revoked", "f3", "revoked", "app", 100, "", ""}));
  ASSERT_TRUE(oauth.CreateRefreshToken({"of-lately", "f4", "lately", "app", 100, "", ""}));
  ASSERT_TRUE(oauth.CreateRefreshToken({"of-expired", "f5", "expired", "app", 100, "", ""}));
  ASSERT_TRUE(oauth.CreateRefreshToken({"of-nothing", "f6", "removed", "app", 100, "", ""}));

  EXPECT_EQ(oauth.PruneEndedTokens(1000).value(), 6);  // a code and five tokens
  for (const char* gone : {"live-used", "live-family-revoked", "of-revoked", "of-expired", "of-nothing"})
    EXPECT_EQ(oauth.GetRefreshToken(gone).error().code, Errc::kNotFound) << gone;
  for (const char* kept : {"live-current", "of-lately"}) EXPECT_TRUE(oauth.GetRefreshToken(kept)) << kept;
  ASSERT_TRUE(oauth.UseRefreshToken("live-current", 1200, {"live-next", ""}));
  EXPECT_EQ(oauth.PruneEndedTokens(1000).value(), 0) << "used after the cutoff: kept, a replay still shows";
  EXPECT_EQ(oauth.GetAuthorizationCode("old-code").error().code, Errc::kNotFound);
  EXPECT_TRUE(oauth.GetAuthorizationCode("new-code"));
  EXPECT_EQ(oauth.PruneEndedTokens(1000).value(), 0);
}

TEST_P(StoreTest, AuditAppendsKeepTheirHeadInTheSameTransaction) {
  EXPECT_FALSE(store_->Audit().GetAuditHead().value());
  auto link = [](int64_t count) {
    return [count](const std::optional<AuditHead>& head) -> Result<std::pair<std::vector<AuditRecord>, AuditHead>> {
      int64_t seq = head ? head->seq : 0;
      std::vector<AuditRecord> records;
      for (int64_t i = 0; i < count; ++i)
        records.push_back(AuditRecord{++seq, 10, "alice", "cli", "k", "", "{}", "p", "h" + std::to_string(seq)});
      return std::make_pair(records, AuditHead{seq, "h" + std::to_string(seq), "mac"});
    };
  };
  ASSERT_TRUE(store_->Audit().AppendAudit(link(2)));
  ASSERT_TRUE(store_->Audit().AppendAudit(link(1)));
  auto head = store_->Audit().GetAuditHead().value();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->seq, 3);
  EXPECT_EQ(head->hash, "h3");
  // A linker that fails leaves nothing behind.
  auto failing = [](const std::optional<AuditHead>&) -> Result<std::pair<std::vector<AuditRecord>, AuditHead>> {
    return MakeError(Errc::kUnavailable, "no");
  };
  EXPECT_FALSE(store_->Audit().AppendAudit(failing));
  AuditQuery all;
  all.limit = 0;
  all.oldest_first = true;
  auto records = store_->Audit().ListAudit(all).value();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].seq, 1);
  AuditQuery page;
  page.limit = 2;
  page.before_seq = 3;
  auto older = store_->Audit().ListAudit(page).value();
  ASSERT_EQ(older.size(), 2u);
  EXPECT_EQ(older[0].seq, 2);
  EXPECT_EQ(older[1].seq, 1);
  AuditQuery later;  // oldest first, a page at a time (audit export)
  later.limit = 1;
  later.oldest_first = true;
  later.after_seq = 1;
  auto next = store_->Audit().ListAudit(later).value();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].seq, 2);
}

// What a flow needs between its steps lives in the database: any broker on it serves the next step.

PendingAuthorizationRecord Pending(const std::string& grant_id, UnixSeconds expires_at) {
  return {grant_id, "app", "http://127.0.0.1/cb", "st", "challenge", 3600, expires_at, "https://b/proxy"};
}

TEST_P(StoreTest, PendingAuthorizationsAreBoundedTakenOnceAndSurviveARestart) {
  FlowStore& flows = store_->Flows();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(flows.PutPendingAuthorization(Pending("g" + std::to_string(i), 1600), 1000, 3).value());
  EXPECT_FALSE(flows.PutPendingAuthorization(Pending("one-more", 1600), 1000, 3).value()) << "full: refused, not grown";
  EXPECT_FALSE(flows.FindPendingAuthorization("one-more", 1000).value());
  store_ = Open();  // a restart, or another broker
  auto found = store_->Flows().FindPendingAuthorization("g0", 1000).value();
  ASSERT_TRUE(found);
  EXPECT_EQ(found->redirect_uri, "http://127.0.0.1/cb");
  EXPECT_EQ(found->code_challenge, "challenge");
  EXPECT_TRUE(store_->Flows().FindPendingAuthorization("g0", 1000).value()) << "finding leaves it in place";
  auto taken = store_->Flows().TakePendingAuthorization("g0", 1000).value();
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->state, "st");
  EXPECT_EQ(taken->resources, "https://b/proxy");
  EXPECT_FALSE(store_->Flows().TakePendingAuthorization("g0", 1000).value()) << "taken once";
  EXPECT_FALSE(store_->Flows().TakePendingAuthorization("g1", 1601).value()) << "a lapsed request is not handed out";
  EXPECT_TRUE(store_->Flows().PutPendingAuthorization(Pending("later", 2300), 1700, 3).value())
      << "lapsed ones make room";
  EXPECT_FALSE(store_->Flows().FindPendingAuthorization("g2", 1700).value());
}

TEST_P(StoreTest, TwoConnectionsRacingToTakeOnePendingAuthorizationGiveOneWinner) {
  ASSERT_TRUE(store_->Flows().PutPendingAuthorization(Pending("g1", 1600), 1000, 10).value());
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto own = Open();
      auto taken = own->Flows().TakePendingAuthorization("g1", 1000);
      if (taken && *taken) ++winners;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners, 1);
}

DeviceAuthorizationRecord Device(const std::string& hash, const std::string& user_code_hash, UnixSeconds expires_at) {
  DeviceAuthorizationRecord d;
  d.device_code_hash = hash;
  d.user_code_hash = user_code_hash;
  d.client_id = "cli";
  d.scope_json = R"({"provider":"openai"})";
  d.reason = "because";
  d.expires_at = expires_at;
  d.resources = "https://b/gemini";
  return d;
}

TEST_P(StoreTest, ADeviceCodeFollowsThePersonsDecisionAndTheIntervalOnEveryConnection) {
  ASSERT_TRUE(store_->Flows().PutDeviceAuthorization(Device("h", "u", 1600), 1000, 10).value());
  auto other = Open();  // the device polls one broker, the person uses another
  FlowStore& device_side = store_->Flows();
  FlowStore& person_side = other->Flows();
  EXPECT_EQ(device_side.PollDevice("h", "other-client", 1000)->outcome, DevicePoll::kUnknown);
  EXPECT_EQ(device_side.PollDevice("nope", "cli", 1000)->outcome, DevicePoll::kUnknown);
  EXPECT_EQ(device_side.PollDevice("h", "cli", 1000)->outcome, DevicePoll::kPending);
  auto early = person_side.PollDevice("h", "cli", 1002).value();
  EXPECT_EQ(early.outcome, DevicePoll::kSlowDown) << "the interval holds across brokers";
  EXPECT_EQ(early.interval, 10);
  EXPECT_EQ(device_side.PollDevice("h", "cli", 1008)->outcome, DevicePoll::kSlowDown);
  auto pending = device_side.PollDevice("h", "cli", 1030).value();
  EXPECT_EQ(pending.outcome, DevicePoll::kPending);
  EXPECT_EQ(pending.interval, 15);
  auto waiting = person_side.FindWaitingDevice("u", 1031).value();
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->device_code_hash, "h");
  EXPECT_EQ(waiting->scope_json, R"({"provider":"openai"})");
  ASSERT_TRUE(person_side.AttachDeviceGrant("h", "g1", 1031).value());
  EXPECT_FALSE(person_side.FindWaitingDevice("u", 1031).value()) << "a code is entered once";
  EXPECT_FALSE(device_side.AttachDeviceGrant("h", "g2", 1031).value());
  EXPECT_EQ(device_side.FindDeviceByGrant("g1").value()->lifetime_seconds, 3600);
  EXPECT_TRUE(person_side.DecideDevice("g1", true).value());
  EXPECT_FALSE(device_side.DecideDevice("g1", false).value()) << "decided once";
  EXPECT_FALSE(device_side.FindDeviceByGrant("g1").value());
  auto approved = device_side.PollDevice("h", "cli", 1050).value();
  EXPECT_EQ(approved.outcome, DevicePoll::kApproved);
  EXPECT_EQ(approved.grant_id, "g1");
  EXPECT_EQ(approved.resources, "https://b/gemini");
  EXPECT_EQ(person_side.PollDevice("h", "cli", 1070)->outcome, DevicePoll::kUsed) << "the device code is single-use";
}

TEST_P(StoreTest, DeviceCodesAreDeniedExpireDetachAndAreBounded) {
  FlowStore& flows = store_->Flows();
  ASSERT_TRUE(flows.PutDeviceAuthorization(Device("h1", "u1", 1600), 1000, 2).value());
  ASSERT_TRUE(flows.PutDeviceAuthorization(Device("h2", "u2", 1600), 1000, 2).value());
  EXPECT_FALSE(flows.PutDeviceAuthorization(Device("h3", "u3", 1600), 1000, 2).value()) << "full: refused";
  ASSERT_TRUE(flows.AttachDeviceGrant("h1", "g1", 1000).value());
  ASSERT_TRUE(flows.DetachDeviceGrant("h1", "g1"));
  EXPECT_TRUE(flows.FindWaitingDevice("u1", 1000).value()) << "a grant that could not be stored frees the code";
  ASSERT_TRUE(flows.AttachDeviceGrant("h1", "g1", 1000).value());
  EXPECT_TRUE(flows.DecideDevice("g1", false).value());
  EXPECT_EQ(flows.PollDevice("h1", "cli", 1000)->outcome, DevicePoll::kDenied);
  EXPECT_EQ(flows.PollDevice("h2", "cli", 1601)->outcome, DevicePoll::kExpired);
  EXPECT_FALSE(flows.FindWaitingDevice("u2", 1601).value());
  EXPECT_FALSE(flows.AttachDeviceGrant("h2", "g2", 1601).value()) << "a lapsed code cannot be entered";
  EXPECT_TRUE(flows.PutDeviceAuthorization(Device("h4", "u4", 2300), 1700, 2).value()) << "lapsed ones make room";
}

// The owner may decide the grant a code made elsewhere than on the consent screen that tells the
// device (the grants API approves or revokes it, the console revokes it): the device hears it.
TEST_P(StoreTest, ADeviceHearsOfItsGrantDecidedElsewhere) {
  FlowStore& flows = store_->Flows();
  for (const char* code : {"revoked", "approved", "unstored"})
    ASSERT_TRUE(flows.PutDeviceAuthorization(Device(code, std::string("u-") + code, 1600), 1000, 10).value());
  GrantRecord revoked = Create("g-revoked", 1000);
  GrantRecord approved = Create("g-approved", 1000);
  ASSERT_TRUE(flows.AttachDeviceGrant("revoked", revoked.id, 1000).value());
  ASSERT_TRUE(flows.AttachDeviceGrant("approved", approved.id, 1000).value());
  ASSERT_TRUE(flows.AttachDeviceGrant("unstored", "g-not-yet-stored", 1000).value());
  EXPECT_EQ(flows.PollDevice("revoked", "cli", 1000)->outcome, DevicePoll::kPending) << "a pending grant waits";
  revoked.status = GrantStatus::kRevoked;
  revoked.revoked_at = 1010;
  ASSERT_TRUE(store_->Grants().UpdateGrant(revoked));
  Approve(approved);
  EXPECT_EQ(flows.PollDevice("revoked", "cli", 1020)->outcome, DevicePoll::kDenied);
  EXPECT_EQ(flows.PollDevice("revoked", "cli", 1040)->outcome, DevicePoll::kDenied) << "and stays so";
  auto polled = flows.PollDevice("approved", "cli", 1020).value();
  EXPECT_EQ(polled.outcome, DevicePoll::kApproved);
  EXPECT_EQ(polled.grant_id, approved.id);
  EXPECT_EQ(flows.PollDevice("approved", "cli", 1040)->outcome, DevicePoll::kUsed) << "once";
  EXPECT_EQ(flows.PollDevice("unstored", "cli", 1020)->outcome, DevicePoll::kPending)
      << "a code is attached just before its grant is stored: another broker's poll between waits";
}

TEST_P(StoreTest, ConnectionsRacingForOneDeviceCodeGiveOneWinnerAtEachStep) {
  ASSERT_TRUE(store_->Flows().PutDeviceAuthorization(Device("h", "u", 1600), 1000, 10).value());
  auto race = [&](auto step) {
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&, i] {
        auto own = Open();
        if (step(own->Flows(), i)) ++winners;
      });
    for (auto& t : threads) t.join();
    return winners.load();
  };
  EXPECT_EQ(race([](FlowStore& f, int i) {
    auto attached = f.AttachDeviceGrant("h", "g" + std::to_string(i), 1000);
    return attached && *attached;
  }), 1);
  EXPECT_FALSE(store_->Flows().FindWaitingDevice("u", 1000).value());
  std::string grant_id;
  for (int i = 0; i < 4; ++i)
    if (store_->Flows().FindDeviceByGrant("g" + std::to_string(i)).value()) grant_id = "g" + std::to_string(i);
  ASSERT_FALSE(grant_id.empty());
  EXPECT_EQ(race([&](FlowStore& f, int i) {
    auto decided = f.DecideDevice(grant_id, i % 2 == 0);
    return decided && *decided;
  }), 1);
  EXPECT_FALSE(store_->Flows().DecideDevice(grant_id, true).value());
  // Everyone polls after the interval: if the decision was an approval, one of them gets the grant.
  int approvals = race([](FlowStore& f, int) {
    auto polled = f.PollDevice("h", "cli", 1100);
    return polled && polled->outcome == DevicePoll::kApproved;
  });
  EXPECT_LE(approvals, 1);
  auto after = store_->Flows().PollDevice("h", "cli", 1200).value();
  if (approvals == 1) EXPECT_EQ(after.outcome, DevicePoll::kUsed);
  else EXPECT_EQ(after.outcome, DevicePoll::kDenied);
}

TEST_P(StoreTest, ConnectionsRacingToRedeemOneApprovedDeviceCodeGetItOnce) {
  ASSERT_TRUE(store_->Flows().PutDeviceAuthorization(Device("h", "u", 1600), 1000, 10).value());
  ASSERT_TRUE(store_->Flows().AttachDeviceGrant("h", "g1", 1000).value());
  ASSERT_TRUE(store_->Flows().DecideDevice("g1", true).value());
  std::atomic<int> approved{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      auto own = Open();
      // Different times, each past the interval of the others, so that only the decision stops a second grant.
      auto polled = own->Flows().PollDevice("h", "cli", 1100 + 100 * i);
      if (polled && polled->outcome == DevicePoll::kApproved) ++approved;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(approved, 1);
}

TEST_P(StoreTest, ADpopProofIsAcceptedOnceAcrossConnectionsAndForgottenAfterItsWindow) {
  auto other = Open();
  EXPECT_TRUE(store_->Flows().RememberProof("p1", "k", 1330, 1000, 100).value());
  EXPECT_FALSE(other->Flows().RememberProof("p1", "k", 1331, 1001, 100).value()) << "a replay to another broker";
  EXPECT_FALSE(store_->Flows().RememberProof("p1", "k", 1331, 1001, 100).value());
  EXPECT_TRUE(other->Flows().RememberProof("p1", "k", 1700, 1400, 100).value()) << "remembered only through its window";
  std::atomic<int> firsts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto own = Open();
      auto first = own->Flows().RememberProof("p2", "k", 1330, 1000, 100);
      if (first && *first) ++firsts;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(firsts, 1) << "inserted at once by four brokers, accepted by one";
}

TEST_P(StoreTest, RememberedProofsAreBoundedAndALiveOneIsNeverForgotten) {
  FlowStore& flows = store_->Flows();
  for (int i = 0; i < 3; ++i) {
    std::string n = std::to_string(i);
    ASSERT_TRUE(flows.RememberProof("p" + n, "k" + n, 1330, 1000, 3).value());
  }
  auto full = flows.RememberProof("new", "k-new", 1330, 1000, 3);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::kUnavailable);
  EXPECT_GT(full.error().retry_after_seconds, 0);
  EXPECT_FALSE(flows.RememberProof("p0", "k0", 1330, 1000, 3).value()) << "full, a replay is still refused as one";
  EXPECT_TRUE(flows.RememberProof("new", "k-new", 1700, 1400, 3).value()) << "lapsed proofs make room";
}

TEST_P(StoreTest, OneKeyHoldsAtMostASixteenthOfTheProofsOnceHalfAreLiveWhateverTheBroker) {
  // 64 at most: past 32 live, a key holds at most 4. Its proofs go to three brokers in turn, at
  // 1011, when each counts every broker's proofs again (its count at 1000 is 10 s old).
  std::unique_ptr<Store> brokers[] = {Open(), Open(), Open()};
  for (int i = 0; i < 32; ++i)
    ASSERT_TRUE(brokers[i % 3]
                    ->Flows()
                    .RememberProof("other" + std::to_string(i), "k" + std::to_string(i), 1330, 1000, 64)
                    .value());
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(brokers[i % 3]->Flows().RememberProof("mine" + std::to_string(i), "mine", 1330, 1011, 64).value())
        << "within its share";
  int yours = 0;
  for (auto& broker : brokers) {
    auto over = broker->Flows().RememberProof("mine-more", "mine", 1330, 1011, 64);
    ASSERT_FALSE(over) << "a fifth, on any broker";
    EXPECT_EQ(over.error().code, Errc::kRateLimited);
    EXPECT_GT(over.error().retry_after_seconds, 0);
    EXPECT_FALSE(broker->Flows().RememberProof("mine0", "mine", 1330, 1011, 64).value())
        << "a replay is still refused as one";
    EXPECT_TRUE(broker->Flows().RememberProof("yours" + std::to_string(++yours), "yours", 1330, 1011, 64).value())
        << "another key is not held back";
  }
  EXPECT_TRUE(brokers[1]->Flows().RememberProof("mine-more", "mine", 1700, 1400, 64).value())
      << "once its proofs lapse, the key may go on";
}

// Once a quarter of the proofs are live, a broker counts every broker's again each second (not
// every 10), so that one key spread over many brokers meets its share within a second of half.
TEST_P(StoreTest, OnceAQuarterOfTheProofsAreLiveEachBrokerCountsThemEverySecond) {
  auto a = Open(), b = Open();
  for (int i = 0; i < 16; ++i)  // a quarter of 64, by broker a
    ASSERT_TRUE(a->Flows().RememberProof("a" + std::to_string(i), "k" + std::to_string(i), 1330, 1000, 64).value());
  for (int i = 0; i < 17; ++i)  // past half, by broker b, unknown to a
    ASSERT_TRUE(b->Flows().RememberProof("b" + std::to_string(i), "j" + std::to_string(i), 1330, 1000, 64).value());
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(a->Flows().RememberProof("mine" + std::to_string(i), "mine", 1330, 1001, 64).value());
  auto over = a->Flows().RememberProof("mine4", "mine", 1330, 1001, 64);
  ASSERT_FALSE(over) << "a second later, broker a knows half are live";
  EXPECT_EQ(over.error().code, Errc::kRateLimited);
}

TEST_P(StoreTest, FailedSignInsCountOnEveryConnectionLapseAndAreForgotten) {
  auto other = Open();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->Flows().CountLoginFailure("k", 1000 + i, 900, 100));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(other->Flows().CountLoginFailure("k", 1010, 900, 100));
  auto count = store_->Flows().LoginFailures("k", 1010, 900).value();
  EXPECT_EQ(count.count, 5) << "failures on two brokers add up";
  EXPECT_EQ(count.last, 1010);
  EXPECT_EQ(other->Flows().LoginFailures("k", 1911, 900)->count, 0) << "a lapsed count is none";
  ASSERT_TRUE(other->Flows().CountLoginFailure("k", 1911, 900, 100));
  EXPECT_EQ(store_->Flows().LoginFailures("k", 1911, 900)->count, 1) << "and starts again at one";
  ASSERT_TRUE(store_->Flows().ForgetLoginFailures("k"));
  EXPECT_EQ(other->Flows().LoginFailures("k", 1911, 900)->count, 0);
}

TEST_P(StoreTest, FailedSignInCountsAreBoundedAndTheNewestAreKept) {
  FlowStore& flows = store_->Flows();
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(flows.CountLoginFailure("k" + std::to_string(i), 1000 + i, 900, 10));
  EXPECT_EQ(flows.LoginFailures("k24", 1030, 900)->count, 1) << "the newest count is kept";
  EXPECT_EQ(flows.LoginFailures("k0", 1030, 900)->count, 0) << "the oldest made room";
  int kept = 0;
  for (int i = 0; i < 25; ++i) kept += flows.LoginFailures("k" + std::to_string(i), 1030, 900)->count > 0;
  EXPECT_LE(kept, 10);
}

TEST_P(StoreTest, EveryConnectionGetsTheFirstNonceKey) {
  auto other = Open();
  EXPECT_EQ(store_->Flows().SharedNonceKey("first").value(), "first");
  EXPECT_EQ(other->Flows().SharedNonceKey("second").value(), "first");
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreTest, ::testing::ValuesIn(kStoreFactories),
                         [](const auto& info) { return std::string(info.param.name); });

ProviderKeyRecord Key(const std::string& id, const std::string& owner, const std::string& label, const std::string& master) {
  return ProviderKeyRecord{id, owner, "openai", label, "abcd", std::string("sealed\0", 7) + id,
                           "wrapped-" + id, master, 100, std::nullopt};
}

TEST_P(StoreTest, RemovingAnOwnerRevokesTheirGrantsDeletesTheirKeysAndKeepsTheirRecord) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"o1", "alice", "x", 1}));
  ASSERT_TRUE(store_->Identity().CreateOwner({"o2", "bob", "x", 1}));
  ASSERT_TRUE(store_->Keys().PutKey(Key("k1", "o1", "personal", "m1")));
  ASSERT_TRUE(store_->Keys().PutKey(Key("k2", "o2", "personal", "m1")));
  GrantRecord live = Create("g1", 100);
  live.owner_id = "o1";
  live = Approve(live);
  GrantRecord other = Create("g2", 100);
  other.owner_id = "o2";
  other = Approve(other);
  GrantRecord waiting = Create("g3", 100);  // a request alice's sign-in started: the operator could approve it
  waiting.owner_id = "o1";
  ASSERT_TRUE(store_->Grants().UpdateGrant(waiting));
  ASSERT_TRUE(store_->Identity().CreateSession({"s1", "o1", "csrf", 200, 200}, "x"));
  int64_t keys_before = store_->Keys().Version().value();
  int64_t changes_before = store_->Changes().LastChange().value();

  ASSERT_TRUE(store_->Identity().DeleteOwner("alice"));
  GrantRecord ended = store_->Grants().GetGrant("g1").value();
  EXPECT_EQ(ended.status, GrantStatus::kRevoked);
  EXPECT_TRUE(ended.revoked_at.has_value());
  EXPECT_GT(ended.version, live.version) << "brokers' caches keep the newer version";
  EXPECT_EQ(ended.owner_id, std::optional<std::string>("o1")) << "the grant still names who owned it";
  EXPECT_EQ(store_->Grants().GetGrant("g2").value().status, GrantStatus::kApproved);
  EXPECT_EQ(store_->Grants().GetGrant("g3").value().status, GrantStatus::kRevoked);
  auto keys = store_->Keys().ListKeys(std::nullopt).value();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].owner_id, "o2");
  EXPECT_GT(store_->Keys().Version().value(), keys_before);
  std::set<std::string> kinds;
  for (const auto& change : store_->Changes().ChangesAfter(changes_before, 10).value())
    kinds.insert(change.kind + ":" + change.subject);
  EXPECT_TRUE(kinds.count("grant:g1")) << "every broker refuses the grant at once";
  EXPECT_TRUE(kinds.count("grant:g3"));
  EXPECT_TRUE(kinds.count("keys:")) << "every broker drops the keys at once";
  EXPECT_EQ(store_->Identity().GetSession("s1").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->Identity().GetOwnerByName("alice").error().code, Errc::kNotFound);
  auto owners = store_->Identity().ListOwners().value();
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0].username, "bob");
  auto kept = store_->Identity().GetOwner("o1").value();
  EXPECT_EQ(kept.password_hash, "") << "no one signs in as a removed owner";
  // The name is free again; the removed owner stays a different account.
  ASSERT_TRUE(store_->Identity().CreateOwner({"o3", "alice", "y", 2}));
  EXPECT_EQ(store_->Identity().GetOwnerByName("alice").value().id, "o3");
  EXPECT_EQ(store_->Identity().DeleteOwner("carol").error().code, Errc::kNotFound);
}

TEST_P(StoreTest, KeysAreKeptPerOwnerProviderAndLabelAndReplacedUnderTheSameLabel) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"alice", "alice", "x", 1}));
  ASSERT_TRUE(store_->Identity().CreateOwner({"bob", "bob", "x", 1}));
  KeyStore& keys = store_->Keys();
  EXPECT_EQ(keys.MasterKeyId().value(), std::nullopt);
  int64_t v0 = keys.Version().value();
  ASSERT_EQ(keys.PutKey(Key("k1", "alice", "personal", "m1")).value(), std::nullopt);
  ASSERT_TRUE(keys.PutKey(Key("k2", "alice", "team", "m1")));
  ASSERT_TRUE(keys.PutKey(Key("k3", "bob", "personal", "m1")));
  EXPECT_GT(keys.Version().value(), v0);
  EXPECT_EQ(keys.MasterKeyId().value(), std::optional<std::string>("m1"));
  auto replaced = keys.PutKey(Key("k4", "alice", "personal", "m1"));
  ASSERT_TRUE(replaced);
  EXPECT_EQ(*replaced, std::optional<std::string>("k1"));
  auto alices = keys.ListKeys("alice").value();
  ASSERT_EQ(alices.size(), 2u);
  EXPECT_EQ(alices[0].id, "k4");
  EXPECT_EQ(alices[0].sealed, std::string("sealed\0k4", 9));  // bytes survive, NUL included
  EXPECT_EQ(keys.ListKeys(std::nullopt).value().size(), 3u);
  EXPECT_EQ(keys.GetKey("k1").error().code, Errc::kNotFound);

  ASSERT_TRUE(keys.MarkKeysUsed({"k4"}, 500));
  ASSERT_TRUE(keys.MarkKeysUsed({"k4"}, 400));  // an older report never moves it back
  EXPECT_EQ(keys.GetKey("k4").value().last_used_at, std::optional<int64_t>(500));

  int64_t v1 = keys.Version().value();
  ASSERT_TRUE(keys.DeleteKey("k4"));
  EXPECT_GT(keys.Version().value(), v1);
  EXPECT_EQ(keys.DeleteKey("k4").error().code, Errc::kNotFound);
}

// Counted where the key is written: the CLI's `vault add` and every broker meet the same bound.
TEST_P(StoreTest, AnOwnerKeepsAtMost100KeysAndMayStillReplaceOne) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"alice", "alice", "x", 1}));
  ASSERT_TRUE(store_->Identity().CreateOwner({"bob", "bob", "x", 1}));
  KeyStore& keys = store_->Keys();
  for (int64_t i = 0; i < kMaxKeysPerOwner; ++i)
    ASSERT_TRUE(keys.PutKey(Key("k" + std::to_string(i), "alice", "l" + std::to_string(i), "m1")));
  auto over = keys.PutKey(Key("k-over", "alice", "one more", "m1"));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Errc::kValidation);
  ASSERT_EQ(over.error().field_errors.size(), 1u);
  EXPECT_EQ(over.error().field_errors[0].field, "label");
  EXPECT_EQ(keys.ListKeys("alice").value().size(), static_cast<size_t>(kMaxKeysPerOwner));
  EXPECT_TRUE(keys.PutKey(Key("k-new", "alice", "l7", "m1"))) << "replacing one by its label";
  EXPECT_TRUE(keys.PutKey(Key("b1", "bob", "l0", "m1"))) << "per owner";
}

TEST_P(StoreTest, AKeyWrappedUnderAnotherMasterKeyIsRefusedAfterRotation) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"alice", "alice", "x", 1}));
  KeyStore& keys = store_->Keys();
  ASSERT_TRUE(keys.PutKey(Key("k1", "alice", "personal", "m1")));
  ASSERT_TRUE(keys.PutKey(Key("k2", "alice", "team", "m1")));
  EXPECT_EQ(keys.WrappedAuditKey("audit-wrapped-old", "m1").value(), "audit-wrapped-old");
  EXPECT_EQ(keys.WrappedAuditKey("another", "m1").value(), "audit-wrapped-old");  // made once
  EXPECT_EQ(keys.WrappedAuditKey("x", "m9").error().code, Errc::kUnavailable);
  // A rewrap that misses a key (one added meanwhile) changes nothing.
  EXPECT_EQ(keys.Rewrap({{"k1", "new-k1"}}, {}, "", "m1", "m2").error().code, Errc::kUnavailable);
  EXPECT_EQ(keys.GetKey("k1").value().wrapped_data_key, "wrapped-k1");
  ASSERT_TRUE(keys.Rewrap({{"k1", "new-k1"}, {"k2", "new-k2"}}, {}, "audit-wrapped-new", "m1", "m2"));
  EXPECT_EQ(keys.GetKey("k1").value().wrapped_data_key, "new-k1");
  EXPECT_EQ(keys.MasterKeyId().value(), std::optional<std::string>("m2"));
  EXPECT_EQ(keys.WrappedAuditKey("ignored", "m2").value(), "audit-wrapped-new");
  auto stale = keys.PutKey(Key("k3", "alice", "other", "m1"));  // a broker still on the old key
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::kUnavailable);
  EXPECT_EQ(keys.Rewrap({}, {}, "", "m1", "m3").error().code, Errc::kUnavailable);  // not the current key
}

// A broker adds a key under the old master key while another rotates it: the addition has checked
// the master key's id and written its row, not yet committed, when the rotation starts. Either the
// rotation waits for it and then finds a key it did not rewrap (and refuses), or the addition comes
// after it (and is refused): never a key left sealed under the old master key with the new one
// recorded.
TEST_P(StoreTest, AKeyAddedWhileTheMasterKeyRotatesIsNeverLeftUnderTheOldOne) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"alice", "alice", "x", 1}));
  KeyStore& keys = store_->Keys();
  ASSERT_TRUE(keys.PutKey(Key("k1", "alice", "personal", "m1")));
  bool postgres = std::string_view(GetParam().name) == "Postgres";
  std::unique_ptr<sql::Connection> adding =
      postgres ? std::unique_ptr<sql::Connection>(
                     postgres::Connection::Open(postgres::TestDatabaseUrlInSchema(SchemaFor(dir_))).value())
               : sqlite::OpenConnection(dir_ / "aipassport.db").value();
  ASSERT_TRUE(adding->Begin());
  ASSERT_TRUE(tables::RequireMasterKey(*adding, "m1"));
  {
    sql::Query insert(adding->Prepare(
        "INSERT INTO provider_keys (id, owner_id, provider, label, hint, sealed, wrapped_data_key, master_id, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    insert.Bind("k2").Bind("alice").Bind("openai").Bind("team").Bind("").BindBlob("sealed-k2").BindBlob("wrapped-k2");
    insert.Bind("m1").Bind(int64_t{1});
    ASSERT_EQ(insert.Step(), sql::kDone);
  }
  std::optional<Status> rotated;
  std::thread rotation([&] { rotated = keys.Rewrap({{"k1", "new-k1"}}, {}, "", "m1", "m2"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the rotation has counted, if it does not wait
  ASSERT_TRUE(adding->Exec("COMMIT"));
  rotation.join();
  ASSERT_TRUE(rotated.has_value());
  EXPECT_FALSE(*rotated) << "the rotation did not rewrap k2";
  auto master = keys.MasterKeyId().value();
  for (const auto& key : keys.ListKeys(std::nullopt).value()) EXPECT_EQ(key.master_id, master) << key.id;
}

SigningKeyRecord SigningKey(const std::string& kid, UnixSeconds created_at, const std::string& master = "m1") {
  return SigningKeyRecord{kid, R"({"kty":"OKP","kid":")" + kid + "\"}", std::string("sealed\0", 7) + kid,
                          "wrapped-" + kid, master, created_at};
}

TEST_P(StoreTest, TheSigningKeyRingIsMadeOnceAndARotationIsAChange) {
  SigningKeyStore& ring = store_->SigningKeys();
  EXPECT_TRUE(ring.ListSigningKeys().value().empty());
  ASSERT_TRUE(ring.InitSigningKeys({SigningKey("b", 500), SigningKey("a", 500)}).value());
  EXPECT_FALSE(ring.InitSigningKeys({SigningKey("c", 600)}).value()) << "a ring is made once";
  int64_t before = store_->Changes().LastChange().value();
  ASSERT_TRUE(ring.AddSigningKey(SigningKey("d", 600), OlderKeys::kKeep));
  auto keys = ring.ListSigningKeys().value();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].kid, "a");  // the same second: by kid
  EXPECT_EQ(keys[1].kid, "b");
  EXPECT_EQ(keys[2].kid, "d");
  EXPECT_EQ(keys[2].sealed, std::string("sealed\0d", 8));  // bytes survive, NUL included
  EXPECT_EQ(keys[2].wrapped_data_key, "wrapped-d");
  EXPECT_EQ(keys[2].public_jwk, R"({"kty":"OKP","kid":"d"})");
  auto changes = store_->Changes().ChangesAfter(before, 10).value();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, "signing_keys");
  EXPECT_EQ(changes[0].subject, "d");
  EXPECT_EQ(ring.AddSigningKey(SigningKey("d", 700), OlderKeys::kKeep).error().code, Errc::kBadRequest);
  // A second rotation within the same second could sign before its publish delay: refused, to be
  // tried again (a failure while running, not bad input).
  EXPECT_EQ(ring.AddSigningKey(SigningKey("f", 600), OlderKeys::kKeep).error().code, Errc::kUnavailable);
  // Sealed under another master key than the vault's: refused, nothing stored, no change.
  EXPECT_EQ(ring.AddSigningKey(SigningKey("e", 800, "m2"), OlderKeys::kKeep).error().code, Errc::kUnavailable);
  EXPECT_EQ(ring.ListSigningKeys().value().size(), 3u);
  EXPECT_EQ(store_->Changes().LastChange().value(), changes[0].seq);
  EXPECT_EQ(store_->Keys().MasterKeyId().value(), std::optional<std::string>("m1"));
}

TEST_P(StoreTest, AKeyThatDropsTheOlderOnesIsTheRingsOnlyKeyAndAChange) {
  SigningKeyStore& ring = store_->SigningKeys();
  ASSERT_TRUE(ring.InitSigningKeys({SigningKey("a", 500), SigningKey("b", 500)}).value());
  ASSERT_TRUE(ring.AddSigningKey(SigningKey("c", 600), OlderKeys::kKeep));
  int64_t before = store_->Changes().LastChange().value();
  ASSERT_TRUE(ring.AddSigningKey(SigningKey("d", 700), OlderKeys::kDrop));
  auto keys = ring.ListSigningKeys().value();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], SigningKey("d", 700));
  auto changes = store_->Changes().ChangesAfter(before, 10).value();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, "signing_keys");
  // A refused key drops nothing.
  EXPECT_EQ(ring.AddSigningKey(SigningKey("e", 700), OlderKeys::kDrop).error().code, Errc::kUnavailable);
  EXPECT_EQ(ring.AddSigningKey(SigningKey("d", 800), OlderKeys::kDrop).error().code, Errc::kBadRequest);
  EXPECT_EQ(ring.ListSigningKeys().value(), keys);
}

TEST_P(StoreTest, BrokersStartingAtOnceOnAnEmptyRingMakeOneKey) {
  constexpr int kBrokers = 6;
  std::atomic<int> made{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kBrokers; ++i)
    threads.emplace_back([&, i] {
      auto own = GetParam().open(dir_);  // each its own connection, as separate broker processes
      auto stored = own->SigningKeys().InitSigningKeys({SigningKey("k" + std::to_string(i), 100)});
      if (!stored) ++failed;
      else if (*stored) ++made;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(made, 1);
  EXPECT_EQ(store_->SigningKeys().ListSigningKeys().value().size(), 1u);
}

TEST_P(StoreTest, GrantsKeepTheirKeyLabelAndOwnerlessDecidedGrantsCanBeAdopted) {
  ASSERT_TRUE(store_->Identity().CreateOwner({"op", "operator", "", 1}));
  GrantRecord waiting = Create("g1", 100);
  GrantRecord decided = Create("g2", 100);
  decided.key_label = "team";
  decided = Approve(decided);
  EXPECT_EQ(decided.key_label, std::optional<std::string>("team"));
  ASSERT_TRUE(store_->Grants().AdoptOwnerlessGrants("op"));
  EXPECT_EQ(store_->Grants().GetGrant("g2").value().owner_id, std::optional<std::string>("op"));
  EXPECT_EQ(store_->Grants().GetGrant("g1").value().owner_id, std::nullopt);  // still waiting for an owner
}

// Counts a listener's rings; waits for the next.
struct Rings {
  std::mutex mutex;
  std::condition_variable changed;
  int count = 0;
  void Ring() {
    std::lock_guard lock(mutex);
    ++count;
    changed.notify_all();
  }
  bool WaitPast(int seen, std::chrono::milliseconds within) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, within, [&] { return count > seen; });
  }
  int Count() {
    std::lock_guard lock(mutex);
    return count;
  }
};

TEST(PostgresChangeListener, RingsWhenAChangeCommitsAndAgainAfterItsConnectionIsCut) {
  if (!postgres::TestDatabaseUrl()) {
    if (std::getenv("AIPASSPORT_REQUIRE_POSTGRES")) FAIL() << "AIPASSPORT_TEST_DATABASE_URL is not set";
    GTEST_SKIP() << "no PostgreSQL: run under scripts/with-postgres.sh (make test does)";
  }
  auto dir = MakeTempDir();
  auto store = OpenPostgres(dir);
  auto other_dir = MakeTempDir();
  auto other_deployment = OpenPostgres(other_dir);  // another schema in the same database
  Rings rings;
  auto listener =
      postgres::ChangeListener::Start(postgres::TestDatabaseUrlInSchema(SchemaFor(dir)), [&rings] { rings.Ring(); });
  ASSERT_TRUE(listener) << listener.error().message;

  // A write that is not a change rings nothing, nor does another schema's change; a change rings
  // once it commits.
  ASSERT_TRUE(store->PutSetting("unrelated", "1"));
  ASSERT_TRUE(other_deployment->SigningKeys().InitSigningKeys({SigningKey("x", 100)}).value());
  ASSERT_TRUE(other_deployment->SigningKeys().AddSigningKey(SigningKey("y", 200), OlderKeys::kKeep));
  EXPECT_FALSE(rings.WaitPast(0, std::chrono::milliseconds(300)));
  ASSERT_TRUE(store->SigningKeys().InitSigningKeys({SigningKey("a", 100)}).value());
  ASSERT_TRUE(store->SigningKeys().AddSigningKey(SigningKey("b", 200), OlderKeys::kKeep));
  EXPECT_TRUE(rings.WaitPast(0, std::chrono::seconds(5))) << "no ring for a committed change";

  // The database drops the listener's session: it connects again and rings (changes may have
  // come meanwhile), then rings for the next change as before.
  int before_cut = rings.Count();
  OnPostgres("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'");
  ASSERT_TRUE(rings.WaitPast(before_cut, std::chrono::seconds(10))) << "no ring after reconnecting";
  int after_cut = rings.Count();
  ASSERT_TRUE(store->SigningKeys().AddSigningKey(SigningKey("c", 300), OlderKeys::kKeep));
  EXPECT_TRUE(rings.WaitPast(after_cut, std::chrono::seconds(5))) << "no ring after the reconnection";

  listener->reset();  // stops its thread at once
  store.reset();
  other_deployment.reset();
  for (const auto& d : {dir, other_dir}) {
    OnPostgres("DROP SCHEMA " + SchemaFor(d) + " CASCADE");
    std::filesystem::remove_all(d);
  }
}

// A store on PostgreSQL in a schema of its own, with grant "g1" approved (a budget of 1,000 µ$, a
// cap of 10), and a second session on that schema: a broker stopped in the middle of a
// transaction (SIGSTOP, a frozen container), holding what it locked.
class StoppedBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!postgres::TestDatabaseUrl()) {
      if (std::getenv("AIPASSPORT_REQUIRE_POSTGRES")) FAIL() << "AIPASSPORT_TEST_DATABASE_URL is not set";
      GTEST_SKIP() << "no PostgreSQL: run under scripts/with-postgres.sh (make test does)";
    }
    dir_ = MakeTempDir();
    store_ = OpenPostgres(dir_);
    ASSERT_TRUE(store_->Grants().CreateGrantRequest(Request("req-g1", 100), PendingGrant("g1", 100, 10)));
    GrantRecord g = store_->Grants().GetGrant("g1").value();
    g.budget_micros = 1000;
    g.status = GrantStatus::kApproved;
    g.approved_at = g.created_at;
    ASSERT_TRUE(store_->Grants().UpdateGrant(g));
    stopped_ = PQconnectdb(postgres::TestDatabaseUrlInSchema(SchemaFor(dir_)).c_str());
  }
  void TearDown() override {
    if (stopped_) PQfinish(stopped_);
    if (dir_.empty()) return;
    store_.reset();
    OnPostgres("DROP SCHEMA " + SchemaFor(dir_) + " CASCADE");
    std::filesystem::remove_all(dir_);
  }
  // How many sessions named after this test's schema (application_name) wait for a lock.
  int LockWaiters() {
    std::string sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = '" +
                      SchemaFor(dir_) + "'";
    PGresult* r = PQexec(stopped_, sql.c_str());
    int n = PQresultStatus(r) == PGRES_TUPLES_OK ? std::atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
  }
  // Runs `sql` in the stopped broker's session.
  bool Run(const char* sql) {
    PGresult* r = PQexec(stopped_, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  PGconn* stopped_ = nullptr;
};

// A broker paused in a transaction that holds its lease rows is gone once its heartbeats stop, but
// its leases cannot be taken while its session lives on. The others' heartbeats are still recorded
// (were they not, each would take the others for gone), and its leases are taken once the lock is
// let go.
TEST_F(StoppedBrokerTest, ALockedGoneNodeDefersItsLeasesWithoutUndoingTheHeartbeat) {
  ASSERT_TRUE(store_->Metering().Heartbeat("paused", 100, 0));
  ASSERT_TRUE(store_->Metering().TakeLease("g1", "paused", {300, 4}, {300, 4}, AWrite()));
  ASSERT_TRUE(Run("BEGIN"));
  ASSERT_TRUE(Run("SELECT * FROM leases WHERE node_id = 'paused' FOR UPDATE"));

  auto beat = store_->Metering().Heartbeat("alive", 200, 150);  // waits a tenth of a second for the lock
  ASSERT_TRUE(beat) << beat.error().message;
  EXPECT_EQ(beat->lost, 0);
  EXPECT_TRUE(beat->deferred);
  EXPECT_EQ(store_->Metering().LiveNodes(150).value(), std::vector<std::string>{"alive"});
  EXPECT_EQ(store_->Grants().GetGrant("g1").value().lost_micros, 0);

  ASSERT_TRUE(Run("ROLLBACK"));
  beat = store_->Metering().Heartbeat("alive", 210, 150);
  ASSERT_TRUE(beat) << beat.error().message;
  EXPECT_EQ(beat->lost, 1);
  EXPECT_FALSE(beat->deferred);
  EXPECT_EQ(store_->Grants().GetGrant("g1").value().lost_micros, 300);
}

// A grant's row held by a stopped broker: a lease or a settlement of it gives up after a quarter of
// a second rather than the session's 5 s, as every other call of its broker waits behind it on the
// store thread. (The row is let go after 2 s: a 5 s wait would succeed.)
TEST_F(StoppedBrokerTest, ALeaseOrASettlementDoesNotWaitLongForALockedGrant) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    ASSERT_TRUE(Run("BEGIN"));
    ASSERT_TRUE(Run("SELECT * FROM grants WHERE id = 'g1' FOR UPDATE"));
    std::thread let_go([&] {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      Run("ROLLBACK");
    });
    if (attempt == 0) {
      auto lease = store_->Metering().TakeLease("g1", "node", {0, 1}, {0, 1}, AWrite());
      EXPECT_FALSE(lease) << "a lease waited for the row";
      if (!lease) {
        EXPECT_EQ(lease.error().code, Errc::kUnavailable) << lease.error().message;
      }
    } else {
      UsageRecord row{"g1", "2026-12-06", "m", 1, 1, 0, 1, 0, 1};
      EXPECT_FALSE(store_->Metering().Settle("node", AWrite(), {row})) << "a settlement waited for the row";
    }
    let_go.join();
  }
  EXPECT_TRUE(store_->Metering().TakeLease("g1", "node", {0, 1}, {0, 1}, AWrite())) << "once let go, it is leased";
}

// A change made while the changes table is held by a broker stopped mid-transaction waits a
// second for it, not the session's 5 s: its broker's store thread runs leases and heartbeats too.
TEST_F(StoppedBrokerTest, AChangeDoesNotWaitLongForTheChangesTable) {
  GrantRecord g = store_->Grants().GetGrant("g1").value();
  g.notes = "edited while the changes were held";
  ASSERT_TRUE(Run("BEGIN"));
  ASSERT_TRUE(Run("LOCK TABLE changes IN EXCLUSIVE MODE"));
  std::thread let_go([&] {
    std::this_thread::sleep_for(std::chrono::seconds(4));  // past the change's wait, within the session's 5 s
    Run("ROLLBACK");
  });
  auto edited = store_->Grants().UpdateGrant(g);
  EXPECT_FALSE(edited) << "the change waited for the table";
  if (!edited) {
    EXPECT_EQ(edited.error().code, Errc::kUnavailable) << edited.error().message;
  }
  let_go.join();
  ASSERT_TRUE(store_->Grants().UpdateGrant(g)) << "once let go, the change is made";
  EXPECT_EQ(store_->Grants().GetGrant("g1").value().notes, g.notes);
}

// Two brokers each making a child in one tree while a third holds its top's row, on a server
// whose default isolation is repeatable read: the one that gets the row second counts the child the
// first committed meanwhile, so a tree's live bound holds across brokers.
TEST_F(StoppedBrokerTest, ChildrenMadeAtOnceCountEachOtherWhateverTheServersIsolation) {
  std::string repeatable_read =
      postgres::TestDatabaseUrlInSchema(SchemaFor(dir_)) +
      "%20-cdefault_transaction_isolation%3Drepeatable%5C%20read&application_name=" + SchemaFor(dir_);
  auto a = OpenPostgresStore(repeatable_read).value();
  auto b = OpenPostgresStore(repeatable_read).value();
  GrantRecord root = store_->Grants().GetGrant("g1").value();
  ASSERT_TRUE(Run("BEGIN"));
  ASSERT_TRUE(Run("SELECT * FROM grants WHERE id = 'g1' FOR UPDATE"));
  Status made[2];
  std::thread first([&] {
    made[0] =
        a->Grants().CreateChildGrant(Request("req-c1", 150), ChildOf(root, "c1", std::nullopt, 1), {1, 1000}, 200);
  });
  std::thread second([&] {
    made[1] =
        b->Grants().CreateChildGrant(Request("req-c2", 150), ChildOf(root, "c2", std::nullopt, 1), {1, 1000}, 200);
  });
  for (int i = 0; i < 400 && LockWaiters() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(LockWaiters(), 2) << "both wait for the top's row";
  ASSERT_TRUE(Run("ROLLBACK"));
  first.join();
  second.join();
  EXPECT_NE(bool(made[0]), bool(made[1])) << "exactly one child is made";
  for (const Status& m : made)
    if (!m) {
      EXPECT_EQ(m.error().code, Errc::kLimitReached) << m.error().message;
    }
}

// A settlement's first row of a day or model for a child has PostgreSQL check that the child exists
// (its foreign key takes a KEY SHARE lock on the child's row) before it updates the child's parent;
// a lease take locks the parent, then the child. A take that locked the child FOR UPDATE waited for
// that KEY SHARE, and the settlement then for the parent: each waited on the other until one's lock
// timeout ended it (the take's: a second of refused calls).
TEST_F(StoppedBrokerTest, ALeaseTakeDoesNotWaitForASettlementCheckingItsGrantExists) {
  GrantRecord root = store_->Grants().GetGrant("g1").value();
  ASSERT_TRUE(
      store_->Grants().CreateChildGrant(Request("req-c", 150), ChildOf(root, "c", 500, 5, kFarEnd), kRoomy, 200));
  ASSERT_TRUE(Run("BEGIN"));
  ASSERT_TRUE(Run("INSERT INTO usage (grant_id, day, model, requests) VALUES ('c', '2026-12-08', 'gpt-4o-mini', 1)"));
  auto lease = store_->Metering().TakeLease("c", "node", {1, 1}, {1, 1}, AWrite());
  EXPECT_TRUE(lease) << lease.error().message;
  root.status = GrantStatus::kRevoked;
  root.revoked_at = 300;
  auto tree = store_->Grants().UpdateGrantTree(root, {300, std::nullopt});
  ASSERT_TRUE(tree) << "nor does a revocation of the tree: " << tree.error().message;
  EXPECT_EQ(tree->descendants.size(), 1u);
  ASSERT_TRUE(Run("ROLLBACK"));
}

// A failover to a replica that lacked the newest ids' numbers: a connection made again reads the
// numbers afresh, rather than writing rows under numbers the server no longer holds (or will hand
// to another id).
TEST_F(StoppedBrokerTest, ActivityIdsAreNumberedAfreshOnAConnectionMadeAgain) {
  auto named =
      OpenPostgresStore(postgres::TestDatabaseUrlInSchema(SchemaFor(dir_)) + "&application_name=" + SchemaFor(dir_))
          .value();
  ASSERT_TRUE(named->Activity().AddActivity({Call(100, "g1", "alice")}));
  ASSERT_TRUE(Run("DELETE FROM activity; DELETE FROM activity_ids WHERE id = 'g1'"));
  std::string cut =
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + SchemaFor(dir_) + "'";
  ASSERT_TRUE(Run(cut.c_str()));
  EXPECT_FALSE(named->Activity().AddActivity({Call(200, "g1", "alice")})) << "the connection was lost";
  ASSERT_TRUE(named->Activity().AddActivity({Call(200, "g1", "alice")}));
  ActivityQuery of_g1;
  of_g1.grant_id = "g1";
  auto rows = store_->Activity().ListActivity(of_g1).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at, 200);
}

TEST(SqliteStore, RefusesADatabaseFromANewerVersion) {
  auto dir = MakeTempDir();
  ASSERT_TRUE(OpenSqliteStore(dir / "aipassport.db"));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "aipassport.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES (999, 'future', 0)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto reopened = OpenSqliteStore(dir / "aipassport.db");
  ASSERT_FALSE(reopened);
  EXPECT_NE(reopened.error().message.find("newer"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ap::store
