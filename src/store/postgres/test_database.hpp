#pragma once
// For tests only: the PostgreSQL cluster scripts/with-postgres.sh started (make test always does),
// named by AIPASSPORT_TEST_DATABASE_URL, and stores whose tables live in a schema of their own.

#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "store/postgres/postgres_store.hpp"

namespace ap::store::postgres {

inline std::optional<std::string> TestDatabaseUrl() {
  const char* url = std::getenv("AIPASSPORT_TEST_DATABASE_URL");
  if (!url || !*url) return std::nullopt;
  return std::string(url);
}

// Runs one statement on the test cluster; nothing when it succeeds, else PostgreSQL's message.
inline std::optional<std::string> RunOnTestDatabase(const std::string& statement) {
  PGconn* conn = PQconnectdb(TestDatabaseUrl().value_or("").c_str());
  PGresult* result = PQexec(conn, statement.c_str());
  auto status = PQresultStatus(result);
  std::optional<std::string> failed;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) failed = PQerrorMessage(conn);
  PQclear(result);
  PQfinish(conn);
  return failed;
}

// The test cluster's URL with `schema` first on the search path.
inline std::string TestDatabaseUrlInSchema(const std::string& schema) {
  std::string url = TestDatabaseUrl().value_or("");
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
}

// A store on the test cluster whose tables live in `schema` (made if missing; the caller drops it
// with RunOnTestDatabase("DROP SCHEMA ... CASCADE")).
inline Result<std::unique_ptr<Store>> OpenTestStoreInSchema(const std::string& schema) {
  if (auto failed = RunOnTestDatabase("CREATE SCHEMA IF NOT EXISTS " + schema))
    return MakeError(Errc::kUnavailable, "make the test schema: " + *failed);
  return OpenPostgresStore(TestDatabaseUrlInSchema(schema));
}

}  // namespace ap::store::postgres
