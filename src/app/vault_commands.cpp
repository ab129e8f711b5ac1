#include "app/vault_commands.hpp"

namespace ap::app {

Result<vault::MasterKey> OpenMasterKey(const Config& config, store::Store& store, bool* created) {
  auto stored_id = store.Keys().MasterKeyId();
  if (!stored_id) return stored_id.error();
  auto key = vault::LoadMasterKey({config.master_key_base64, config.master_key_file}, !*stored_id, created);
  if (!key) return key.error();
  if (*stored_id && **stored_id != key->Id())
    return MakeError(Errc::kValidation,
                     "the master key (" + std::string(config.master_key_base64 ? "AIPASSPORT_MASTER_KEY" : "from " + config.master_key_file.string()) +
                         ", id " + key->Id() + ") is not the one the stored provider keys are sealed with (id " +
                         **stored_id + "); start with that key");
  return key;
}

}  // namespace ap::app
