#pragma once
// The embedded Store: one SQLite file in WAL mode, migrated to the current schema on open.
// Thread-safety: one thread at a time (the store worker); other processes may open the same file.

#include <filesystem>
#include <memory>

#include "store/store.hpp"

namespace ap::store {

// Opens (creating if needed) the database and applies pending migrations. Fails with a clear
// message if the file belongs to a newer aipassport.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::filesystem::path& file);

}  // namespace ap::store
