#pragma once
// Envelope encryption of provider keys with XChaCha20-Poly1305 (libsodium): each key is sealed
// under its own random data key, and the data key is wrapped under the master key. Rotating the
// master key re-wraps the small data keys and never touches the sealed keys. The associated data
// binds a sealed key to its row (id, owner, provider, label): a row copied or moved to another
// owner does not open.
// Thread-safety: pure functions.

#include <string>
#include <string_view>

#include "core/error.hpp"
#include "store/key_store.hpp"
#include "vault/master_key.hpp"

namespace ap::vault {

// Fills `record.sealed`, `record.wrapped_data_key` and `record.master_id` for `secret`; the other
// fields (id, owner, provider, label) must already be set, since they are bound to the seal.
void Seal(const MasterKey& master, std::string_view secret, store::ProviderKeyRecord& record);
// The key sealed in `record`; kValidation when it does not open under `master` (a wrong master
// key, or a row that was edited).
Result<std::string> Unseal(const MasterKey& master, const store::ProviderKeyRecord& record);
// `record`'s data key wrapped under `to` instead of `from`.
Result<std::string> Rewrap(const MasterKey& from, const MasterKey& to, const store::ProviderKeyRecord& record);

}  // namespace ap::vault
