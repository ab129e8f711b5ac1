#pragma once
// Wires the concrete parts together and runs them until SIGINT or SIGTERM.

#include <string>

#include "app/config.hpp"
#include "mock/mock_upstream.hpp"

namespace ap::app {

// Both return the process exit code; startup failures are printed, not thrown.
int RunBroker(const Config& config);
int RunMockUpstream(const std::string& listen, const mock::MockOptions& options);
int ResetAdminToken(const Config& config);
// `aipassport keys rotate-signing`: adds a signing key (see crypto/signing_keys.hpp).
int RotateSigningKey(const Config& config);
// Creates the data directory (mode 0700) if it is missing.
Status PrepareDataDir(const std::filesystem::path& dir);

}  // namespace ap::app
