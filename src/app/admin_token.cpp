#include "app/admin_token.hpp"

#include <set>

#include "api/auth.hpp"
#include "core/ids.hpp"
#include "crypto/hash.hpp"

namespace ap::app {

Result<std::string> ResetOwnerToken(store::Store& store) {
  std::string token = "apo_" + RandomToken(32);
  if (auto ok = store.PutSetting(api::kOwnerTokenSetting, crypto::Sha256Hex(token)); !ok) return ok.error();
  return token;
}

Result<std::optional<std::string>> EnsureOwnerToken(store::Store& store) {
  std::string token = "apo_" + RandomToken(32);
  // Brokers starting at once on an empty database: one token is made, and only its maker shows it.
  auto added = store.AddSettingIfAbsent(api::kOwnerTokenSetting, crypto::Sha256Hex(token));
  if (!added) return added.error();
  if (!*added) return std::optional<std::string>();
  return std::optional<std::string>(token);
}

Result<store::OwnerRecord> EnsureOperatorAccount(store::Store& store, UnixSeconds now) {
  auto id = store.GetSetting(kOperatorSetting);
  if (!id) return id.error();
  if (*id) return store.Identity().GetOwner(**id);
  auto existing = store.Identity().GetOwnerByName(kOperatorName);
  store::OwnerRecord owner;
  if (existing) {
    owner = *existing;
  } else if (existing.error().code == Errc::kNotFound) {
    owner = store::OwnerRecord{RandomUuid(), std::string(kOperatorName), "", now};
    if (auto made = store.Identity().CreateOwner(owner); !made) {
      // Another broker starting at once made it first: that one is the operator.
      auto theirs = store.Identity().GetOwnerByName(kOperatorName);
      if (!theirs) return made.error();
      owner = *theirs;
    }
  } else {
    return existing.error();
  }
  if (auto kept = store.AddSettingIfAbsent(kOperatorSetting, owner.id); !kept) return kept.error();
  if (auto adopted = store.Grants().AdoptOwnerlessGrants(owner.id); !adopted) return adopted.error();
  return owner;
}

Status CheckAdminTokenStrength(std::string_view token) {
  if (token.size() < kMinAdminTokenLength)
    return MakeError(Errc::kBadRequest, "AIPASSPORT_ADMIN_TOKEN is too short to be a secret (at least " +
                                            std::to_string(kMinAdminTokenLength) + " characters)");
  // A repeated character or a short pattern is guessed first; a random token of this length (hex
  // or base64) has far more different characters.
  std::set<char> different(token.begin(), token.end());
  if (different.size() < kMinAdminTokenCharacters)
    return MakeError(Errc::kBadRequest, "AIPASSPORT_ADMIN_TOKEN repeats too few characters to be a secret (at least " +
                                            std::to_string(kMinAdminTokenCharacters) +
                                            " different ones): make one with `openssl rand -hex 32`");
  return {};
}

}  // namespace ap::app
