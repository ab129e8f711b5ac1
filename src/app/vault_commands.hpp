#pragma once
// The vault's master key as a broker or a command finds it, and `aipassport vault ...`: owners'
// provider keys managed on the data directory (also while brokers run: they pick changes up).

#include <string>

#include "app/config.hpp"
#include "store/store.hpp"
#include "vault/master_key.hpp"

namespace ap::app {

// The configured master key, checked against the one the stored keys are sealed with. Creates the
// key file only when the store holds no sealed key yet, so a missing or wrong key is a clear error,
// never a silently empty vault. A created key is said: in `*created` for a caller that says it
// itself (the broker), else as NewMasterKeyWarning on stderr (the commands).
Result<vault::MasterKey> OpenMasterKey(const Config& config, store::Store& store, bool* created = nullptr);
std::string NewMasterKeyWarning(const Config& config);

struct VaultCommand {
  std::string action;  // add, list, remove, rotate-master
  std::string owner;   // add, list: the owner's username
  std::string provider;
  std::string label;         // add: default "default"
  std::string key_id;        // remove
  std::string new_key_file;  // rotate-master
};

// Returns the process exit code; failures are printed. `add` reads the key from the first line of
// stdin and prints only its hint.
int ManageVault(const Config& config, const VaultCommand& command);

// `vault rotate-master` on an open store, as ManageVault runs it; apart for its test, which races
// it with a key added between its read and its write.
int RotateMaster(const Config& config, store::Store& store, const VaultCommand& command);

}  // namespace ap::app
