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

// Another secret the vault keeps (a token signing key), sealed as a provider key is: under its own
// random data key, wrapped under the master key. `kind` and `id` are bound to the seal, so a row
// renamed, or moved to another use, does not open.
struct SealedSecret {
  std::string sealed;            // bytes
  std::string wrapped_data_key;  // bytes
  std::string master_id;
};
SealedSecret SealSecret(const MasterKey& master, std::string_view kind, std::string_view id, std::string_view secret);
// kValidation when it does not open under `master` (a wrong master key, or an edited row).
Result<std::string> UnsealSecret(const MasterKey& master, std::string_view kind, std::string_view id,
                                 const SealedSecret& sealed);
// The secret's data key wrapped under `to` instead of `from`.
Result<std::string> RewrapSecret(const MasterKey& from, const MasterKey& to, std::string_view kind, std::string_view id,
                                 std::string_view wrapped_data_key);

// The audit chain's key (vault.audit_key): random, made once, wrapped under the master key like a
// data key, so rotating the master key re-wraps it and the chain stays verifiable. kValidation
// when the stored one does not open under `master`.
Result<std::string> AuditChainKey(const MasterKey& master, store::KeyStore& keys);
// The stored audit key wrapped under `to` instead of `from` (empty when there is none).
Result<std::string> RewrapAuditKey(const MasterKey& from, const MasterKey& to, store::KeyStore& keys);

}  // namespace ap::vault
