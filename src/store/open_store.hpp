#pragma once
// Chooses the store from the configured database URL:
//   ""                                the SQLite file in the data directory (the default)
//   sqlite:///abs/path/file.db        a SQLite file (three slashes, then an absolute path)
//   postgresql://user:pass@host/db    PostgreSQL (any libpq URI; postgres:// too)
// Methods block on I/O: open stores on the store thread or before serving.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace ap::store {

enum class Backend { kSqlite, kPostgres };

struct DatabaseTarget {
  Backend backend = Backend::kSqlite;
  std::string location;  // the SQLite file, or the libpq URI
};

// What `url` names, or why it names nothing (the message never shows a password).
Result<DatabaseTarget> ParseDatabaseUrl(std::string_view url, const std::filesystem::path& default_sqlite_file);

// `url` with its password (user:pass@ or password=...) replaced by "***", for messages and logs.
std::string RedactDatabaseUrl(std::string_view url);

// `message` (libpq's, which may quote a part of `url`) with every password `url` holds as "***".
std::string ScrubDatabasePassword(std::string message, std::string_view url);

// Opens and migrates the store `target` names.
Result<std::unique_ptr<Store>> OpenStore(const DatabaseTarget& target);

}  // namespace ap::store
