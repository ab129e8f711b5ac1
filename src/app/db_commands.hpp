#pragma once
// `aipassport db ...`: the database itself.

#include "app/config.hpp"

namespace ap::app {

// `aipassport db migrate`: brings the configured database's schema up to this aipassport's
// (what a broker also does at start) and says which version it is at. Returns the exit code.
int MigrateDatabase(const Config& config);

}  // namespace ap::app
