#pragma once
// `aipassport db ...`: the database itself.

#include <string>

#include "app/config.hpp"

namespace ap::app {

// `aipassport db migrate`: brings the configured database's schema up to this aipassport's
// (what a broker also does at start) and says which version it is at. Returns the exit code.
int MigrateDatabase(const Config& config);

// `aipassport db copy --from URL [--to URL]`: copies a deployment's database into an empty one
// (SQLite to PostgreSQL), printing each table's verified row count. `to_on_command_line`: the
// target came from --to, not AIPASSPORT_DATABASE_URL (a password in it is warned of). Returns the
// exit code.
int CopyDatabase(const std::string& from_url, const std::string& to_url, bool to_on_command_line);

}  // namespace ap::app
