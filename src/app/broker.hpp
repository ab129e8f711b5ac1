#pragma once
// Wires the concrete parts together and runs them until SIGINT or SIGTERM.

#include <string>

#include "app/config.hpp"
#include "mock/mock_upstream.hpp"
#include "store/store.hpp"

namespace ap::app {

// Both return the process exit code; startup failures are printed, not thrown.
int RunBroker(const Config& config);
int RunMockUpstream(const std::string& listen, const mock::MockOptions& options);
int ResetAdminToken(const Config& config);
// `aipassport keys rotate-signing`: adds a signing key to the ring in the store (see
// vault/signing_ring.hpp); every broker on the database publishes it within a poll of the change feed.
// `drop_older`: the older keys leave the ring with it (they may have leaked), so the new key signs at
// once and every token they signed is refused.
int RotateSigningKey(const Config& config, bool drop_older);
// Creates the data directory (mode 0700) if it is missing.
Status PrepareDataDir(const std::filesystem::path& dir);

// What a command other than `serve` needs of the data directory. None creates it: a mistyped
// --data-dir must not turn into an empty database.
enum class DataUse {
  kMayCreateDatabase,  // setting up before the first start (user add, client add)
  kNeedsDatabase,      // everything else: the broker's data must be there
};
// Fails with the message to print when the data directory is missing or, for kNeedsDatabase, the
// SQLite database is (a PostgreSQL database_url is checked when the store opens).
Status CheckDataDir(const Config& config, DataUse use);
// Opens and migrates the store `database_url` names (default: the SQLite file in data_dir).
Result<std::unique_ptr<store::Store>> OpenConfiguredStore(const Config& config);

}  // namespace ap::app
