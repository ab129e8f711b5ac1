#include "store/open_store.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "store/postgres/connection.hpp"

namespace ap::store {
namespace {

TEST(DatabaseUrl, EmptyMeansTheSqliteFileInTheDataDirectory) {
  auto target = ParseDatabaseUrl("", "/var/lib/aipassport/aipassport.db").value();
  EXPECT_EQ(target.backend, Backend::kSqlite);
  EXPECT_EQ(target.location, "/var/lib/aipassport/aipassport.db");
}

TEST(DatabaseUrl, SqliteTakesThreeSlashesAndAnAbsolutePath) {
  auto target = ParseDatabaseUrl("sqlite:///srv/ap/broker.db", "unused").value();
  EXPECT_EQ(target.backend, Backend::kSqlite);
  EXPECT_EQ(target.location, "/srv/ap/broker.db");
  for (const char* bad : {"sqlite://relative.db", "sqlite://", "sqlite:///"})
    EXPECT_FALSE(ParseDatabaseUrl(bad, "unused")) << bad;
}

TEST(DatabaseUrl, PostgresUrlsAreHandedToLibpq) {
  for (const char* url : {"postgresql://ap:pw@db.internal:5432/ap", "postgres://db/ap", "postgresql:///ap?host=/run"}) {
    auto target = ParseDatabaseUrl(url, "unused").value();
    EXPECT_EQ(target.backend, Backend::kPostgres);
    EXPECT_EQ(target.location, url);
  }
}

TEST(DatabaseUrl, AnUnknownSchemeIsNamedWithoutItsPassword) {
  auto bad = ParseDatabaseUrl("mysql://root:hunter2@db/ap", "unused");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("expected postgresql://"), std::string::npos);
  EXPECT_NE(bad.error().message.find("mysql://root:***@db/ap"), std::string::npos);
  EXPECT_EQ(bad.error().message.find("hunter2"), std::string::npos);
  // A slash short: the password cannot be told from the rest, so only the scheme is named.
  for (const char* typo : {"postgresql:/u:Xy7Qk9pw@h/db", "postgresql//u:Xy7Qk9pw@h/db", "postgres:u:Xy7Qk9pw@h/db",
                           "password=Xy7Qk9pw host=db", "host=db password=Xy7Qk9pw", "Xy7Qk9pw"}) {
    auto mistyped = ParseDatabaseUrl(typo, "unused");
    ASSERT_FALSE(mistyped) << typo;
    EXPECT_EQ(mistyped.error().message.find("Xy7Qk9pw"), std::string::npos) << mistyped.error().message;
    EXPECT_NE(mistyped.error().message.find("expected postgresql://"), std::string::npos);
  }
}

TEST(DatabaseUrl, RedactionHidesEveryPassword) {
  EXPECT_EQ(RedactDatabaseUrl("postgresql://ap:s3cret@h:5432/db"), "postgresql://ap:***@h:5432/db");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://h/db?user=ap&password=s3cret&sslmode=require"),
            "postgresql://h/db?user=ap&password=***&sslmode=require");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://ap@h/db"), "postgresql://ap@h/db");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://ap:ab/cd@h/db"), "postgresql://ap:***@h/db");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://ap:p@ss@h/db"), "postgresql://ap:***@h/db");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://ap:s?x=1@h/db?password=two"), "postgresql://ap:***@h/db?password=***");
  EXPECT_EQ(ScrubDatabasePassword("invalid token: \"ab/cd\"", "postgresql://ap:ab/cd@h/db"), "invalid token: \"***\"");
  // libpq splits a password that holds '/' or '@' and quotes a piece of it.
  EXPECT_EQ(ScrubDatabasePassword("invalid integer value \"Xy7Qk\" for connection option \"port\"",
                                  "postgresql://ap:Xy7Qk/9sLmN+2w==@127.0.0.1/ap"),
            "invalid integer value \"***\" for connection option \"port\"");
  EXPECT_EQ(ScrubDatabasePassword("could not translate host name \"Zz9kW@127.0.0.1\"",
                                  "postgresql://ap:Ab3xQ@Zz9kW@127.0.0.1/ap"),
            "could not translate host name \"***@127.0.0.1\"");
  EXPECT_EQ(ScrubDatabasePassword("password \"p@ss word\" refused", "postgresql://ap:p%40ss%20word@h/db"),
            "password \"***\" refused");
}

TEST(Postgres, PlaceholdersAreNumbered) {
  EXPECT_EQ(postgres::NumberPlaceholders("SELECT a FROM t WHERE b = ? AND c = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = $2");
  EXPECT_EQ(postgres::NumberPlaceholders("WHERE (?2 IS NULL OR x > ?2) LIMIT ?10"),
            "WHERE ($2 IS NULL OR x > $2) LIMIT $10");
}

TEST(Postgres, AnUnreachableDatabaseIsAClearErrorWithoutThePassword) {
  // Port 1 on loopback: nothing listens there.
  auto store = OpenStore({Backend::kPostgres, "postgresql://ap:hunter2@127.0.0.1:1/ap?connect_timeout=2"});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::kUnavailable);
  EXPECT_NE(store.error().message.find("postgresql://ap:***@127.0.0.1:1/ap"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("cannot reach PostgreSQL"), std::string::npos) << store.error().message;
  EXPECT_EQ(store.error().message.find("hunter2"), std::string::npos);
}

// A server that takes the connection and never says a word (a stalled database, a port that a
// balancer holds open): the broker gives up on it by itself rather than wait with it.
TEST(Postgres, AServerThatNeverAnswersIsGivenUpOn) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  // Held silent until the broker gives up (closes), or for 20 s: without a bound of its own, the
  // open waits that long.
  std::thread silent([listener] {
    int held = accept(listener, nullptr, nullptr);
    if (held < 0) return;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    char sink[512];
    for (pollfd given_up{held, POLLIN, 0}; std::chrono::steady_clock::now() < until;)
      if (poll(&given_up, 1, 100) == 1 && read(held, sink, sizeof sink) <= 0) break;  // read: its startup packet
    close(held);
  });
  auto started = std::chrono::steady_clock::now();
  auto store =
      OpenStore({Backend::kPostgres, "postgresql://ap@127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/ap"});
  auto waited = std::chrono::steady_clock::now() - started;
  silent.join();
  close(listener);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::kUnavailable);
  EXPECT_LT(waited, std::chrono::seconds(15)) << "given up on after the 5 s connect timeout, not the server's close";
}

TEST(Postgres, AMalformedUrlIsRefusedWithoutThePassword) {
  auto store = OpenStore({Backend::kPostgres, "postgresql://ap:hun%zzter2@127.0.0.1:1/ap"});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().message.find("hun%zzter2"), std::string::npos) << store.error().message;
  EXPECT_EQ(store.error().message.find("hunter2"), std::string::npos) << store.error().message;
}

// The cluster scripts/with-postgres.sh started (make test always does).
const char* TestDatabase() {
  const char* url = std::getenv("AIPASSPORT_TEST_DATABASE_URL");
  return url && *url ? url : nullptr;
}

TEST(Postgres, RefusesADatabaseFromANewerVersion) {
  if (!TestDatabase()) {
    if (std::getenv("AIPASSPORT_REQUIRE_POSTGRES")) FAIL() << "AIPASSPORT_TEST_DATABASE_URL is not set";
    GTEST_SKIP() << "no PostgreSQL: run under scripts/with-postgres.sh (make test does)";
  }
  std::string schema = "t_newer_" + std::to_string(::getpid());
  auto run = [](const std::string& statement) {
    PGconn* conn = PQconnectdb(TestDatabase());
    PGresult* result = PQexec(conn, statement.c_str());
    EXPECT_EQ(PQresultStatus(result), PGRES_COMMAND_OK) << PQerrorMessage(conn);
    PQclear(result);
    PQfinish(conn);
  };
  run("CREATE SCHEMA " + schema);
  std::string url = std::string(TestDatabase()) + "&options=-csearch_path%3D" + schema;
  ASSERT_TRUE(OpenStore({Backend::kPostgres, url}));
  run("INSERT INTO " + schema + ".schema_version VALUES (999, 'future', 0)");
  auto reopened = OpenStore({Backend::kPostgres, url});
  run("DROP SCHEMA " + schema + " CASCADE");
  ASSERT_FALSE(reopened);
  EXPECT_NE(reopened.error().message.find("newer than this aipassport knows"), std::string::npos);
}

// A broker started while another migrates waits for it, however long that takes, rather than fail
// at the session's 5 s bound on a lock.
TEST(Postgres, AStartWaitsForAnotherBrokersMigration) {
  if (!TestDatabase()) {
    if (std::getenv("AIPASSPORT_REQUIRE_POSTGRES")) FAIL() << "AIPASSPORT_TEST_DATABASE_URL is not set";
    GTEST_SKIP() << "no PostgreSQL: run under scripts/with-postgres.sh (make test does)";
  }
  std::string schema = "t_waits_" + std::to_string(::getpid());
  PGconn* other = PQconnectdb(TestDatabase());
  auto run = [other](const std::string& statement) {
    PGresult* result = PQexec(other, statement.c_str());
    EXPECT_TRUE(PQresultStatus(result) == PGRES_COMMAND_OK || PQresultStatus(result) == PGRES_TUPLES_OK)
        << PQerrorMessage(other);
    PQclear(result);
  };
  run("CREATE SCHEMA " + schema);
  run("BEGIN");
  run("SELECT pg_advisory_xact_lock(7272001)");  // another broker's migration, under way
  std::thread migrating([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5500));
    run("COMMIT");
  });
  auto started = std::chrono::steady_clock::now();
  std::string opened;  // why not, or empty
  {
    auto store = OpenStore({Backend::kPostgres, std::string(TestDatabase()) + "&options=-csearch_path%3D" + schema});
    if (!store) opened = store.error().message;
  }
  auto waited = std::chrono::steady_clock::now() - started;
  migrating.join();
  run("DROP SCHEMA " + schema + " CASCADE");
  PQfinish(other);
  EXPECT_EQ(opened, "");
  EXPECT_GE(waited, std::chrono::seconds(5)) << "the other broker's migration held the lock 5.5 s from before the open";
}

}  // namespace
}  // namespace ap::store
