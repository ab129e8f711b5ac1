#pragma once
// The vault's master key as a broker or a command finds it, and `aipassport vault ...`.

#include "app/config.hpp"
#include "store/store.hpp"
#include "vault/master_key.hpp"

namespace ap::app {

// The configured master key, checked against the one the stored keys are sealed with. Creates the
// key file (and sets `*created`) only when the store holds no sealed key yet, so a missing or
// wrong key is a clear error, never a silently empty vault.
Result<vault::MasterKey> OpenMasterKey(const Config& config, store::Store& store, bool* created = nullptr);

}  // namespace ap::app
