#pragma once
// `aipassport client add|list|edit|remove`: the apps registered for the OAuth flows.

#include <optional>
#include <string>
#include <vector>

#include "app/config.hpp"

namespace ap::app {

struct ClientCommand {
  std::string action;  // add, list, edit, remove
  std::string name;    // add: the app's name; edit, remove: its client_id
  std::vector<std::string> redirect_uris;
  std::string home_url;
  std::string logo_url;
  bool confidential = false;
  bool dpop_required = false;
  bool device_grant = false;  // add: it may start the device flow
  // edit: the fields given, each replacing the app's (redirect_uris when any is given).
  std::optional<std::string> new_name;
  std::string device_grant_change;  // "on", "off" or empty (unchanged)
  bool home_url_given = false;
  bool logo_url_given = false;
};

// Returns the process exit code; failures are printed. A confidential client's secret is printed
// once and stored only as its SHA-256.
int ManageClients(const Config& config, const ClientCommand& command);

}  // namespace ap::app
