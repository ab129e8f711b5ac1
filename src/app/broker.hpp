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

}  // namespace ap::app
