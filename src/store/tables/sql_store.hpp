#pragma once
// The Store on a SQL connection (SQLite or PostgreSQL): the table groups over one connection.
// Thread-safety: one thread at a time (the store worker).

#include <memory>
#include <span>

#include "store/sql/connection.hpp"
#include "store/sql/migrate.hpp"
#include "store/store.hpp"

namespace ap::store {

// Migrates `db` to the last of `migrations` (its dialect's), then serves the store on it.
Result<std::unique_ptr<Store>> OpenSqlStore(std::unique_ptr<sql::Connection> db,
                                            std::span<const sql::Migration> migrations);

}  // namespace ap::store
