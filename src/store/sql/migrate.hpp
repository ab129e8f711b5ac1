#pragma once
// Versioned schema migrations, one list per dialect. Append new ones; never edit one that has
// shipped.

#include <span>

#include "store/sql/connection.hpp"

namespace ap::store::sql {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Brings the schema up to the last of `migrations` in one transaction (several brokers starting
// at once on PostgreSQL take turns). Fails, changing nothing, when the database's schema is newer
// than `migrations` know or a migration fails.
Status Migrate(Connection& db, std::span<const Migration> migrations);

// The schema version the database is at (0 for an empty one).
Result<int64_t> SchemaVersion(Connection& db);

}  // namespace ap::store::sql
