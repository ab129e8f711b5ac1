#pragma once
// The Store on PostgreSQL, shared by every broker pointed at the same database.
// Thread-safety: one thread at a time (a store worker).

#include <memory>
#include <string>

#include "store/store.hpp"

namespace ap::store {

// Connects to `url` (a libpq URI: postgresql://user:pass@host:port/db) and applies pending
// migrations. Fails with a clear message, never showing the password, when the database cannot
// be reached or belongs to a newer aipassport.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url);

}  // namespace ap::store
