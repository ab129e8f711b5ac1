#pragma once
// `aipassport user add|passwd|remove|list`: the local owner accounts, managed on the data
// directory (also while the broker runs: SQLite serialises the writes).

#include <string>

#include "app/config.hpp"

namespace ap::app {

struct UserCommand {
  std::string action;  // add, passwd, remove, list
  std::string username;
  bool password_stdin = false;  // read the password from the first line of stdin
};

// Returns the process exit code; failures are printed.
int ManageUsers(const Config& config, const UserCommand& command);

// Reads a line from the terminal without echoing it (a password, a key), after `prompt` on stderr.
std::string ReadLineQuietly(const char* prompt);

}  // namespace ap::app
