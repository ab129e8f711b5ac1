#include "app/vault_commands.hpp"

#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "api/audit_events.hpp"
#include "api/key_api.hpp"
#include "app/admin_token.hpp"
#include "app/broker.hpp"
#include "app/failure.hpp"
#include "app/record_commands.hpp"
#include "app/users.hpp"
#include "core/ids.hpp"
#include "proxy/providers.hpp"
#include "vault/sealing.hpp"
#include "vault/signing_ring.hpp"

namespace ap::app {
namespace {

std::string MasterSource(const Config& config) {
  return config.master_key_base64 ? "AIPASSPORT_MASTER_KEY" : config.master_key_file.string();
}

bool KnownProvider(const Config& config, const std::string& name) {
  if (proxy::ParseProvider(name)) return true;
  for (const auto& up : config.compatible_upstreams)
    if (up.name == name) return true;
  return false;
}

// The key pasted or piped in, without the blanks around it (a copied key often brings some). Piped
// text must hold that one line: a second would mean the wrong file or two keys.
Result<std::string> ReadKey() {
  std::string line;
  if (isatty(STDIN_FILENO)) {
    line = ReadLineQuietly("Paste the key (it is not shown): ");
  } else {
    if (!std::getline(std::cin, line)) return MakeError(Errc::kBadRequest, "no key on stdin");
    std::string more;
    while (std::getline(std::cin, more))
      if (more.find_first_not_of(" \t\r") != std::string::npos) {
        sodium_memzero(line.data(), line.size());
        sodium_memzero(more.data(), more.size());
        return MakeError(Errc::kBadRequest, "stdin holds more than one line: give it the one key");
      }
  }
  size_t begin = line.find_first_not_of(" \t\r"), end = line.find_last_not_of(" \t\r");
  std::string key = begin == std::string::npos ? std::string() : line.substr(begin, end - begin + 1);
  sodium_memzero(line.data(), line.size());
  return key;
}

int Add(const Config& config, store::Store& store, const VaultCommand& command) {
  if (!KnownProvider(config, command.provider))
    return Misused("unknown provider '" + command.provider + "' (openai, anthropic, google or a declared upstream)");
  auto owner = store.Identity().GetOwnerByName(command.owner);
  if (!owner) return Fail("no owner named '" + command.owner + "'");
  std::string label = command.label.empty() ? std::string(api::kDefaultKeyLabel) : command.label;
  auto key = ReadKey();
  if (!key) return Fail(key.error());
  if (auto ok = api::CheckNewKey(label, *key); !ok) {
    sodium_memzero(key->data(), key->size());
    return Misused(ok.error().field_errors.front().field + ": " + ok.error().field_errors.front().message);
  }
  auto master = OpenMasterKey(config, store);
  if (!master) return Fail(master.error());
  auto audit_key = vault::AuditChainKey(*master, store.Keys());  // before anything changes
  if (!audit_key) return Fail(audit_key.error());
  store::ProviderKeyRecord record;
  record.id = RandomUuid();
  record.owner_id = owner->id;
  record.provider = command.provider;
  record.label = label;
  record.hint = vault::KeyHint(*key);
  record.created_at = SystemClock()();
  vault::Seal(*master, *key, record);
  sodium_memzero(key->data(), key->size());
  auto replaced = store.Keys().PutKey(record);
  if (!replaced) return Fail(replaced.error());
  auto kind = *replaced ? api::audit_kind::kKeyRotated : api::audit_kind::kKeyAdded;
  if (auto ok = RecordAuditEvent(config, *audit_key, store, api::KeyEvent(kind, "cli", record)); !ok)
    return Fail("the key was stored, but the audit trail did not take it: " + ok.error().message);
  std::printf("%s %s's %s key '%s' (…%s), id %s; running brokers use it within seconds\n",
              *replaced ? "replaced" : "added", command.owner.c_str(), command.provider.c_str(), label.c_str(),
              record.hint.c_str(), record.id.c_str());
  return 0;
}

int List(store::Store& store, const VaultCommand& command) {
  auto owners = store.Identity().ListOwners();
  if (!owners) return Fail(owners.error());
  std::map<std::string, std::string> names;
  std::optional<std::string> only;
  for (const auto& o : *owners) {
    names[o.id] = o.username;
    if (o.username == command.owner) only = o.id;
  }
  if (!command.owner.empty() && !only) return Fail("no owner named '" + command.owner + "'");
  auto keys = store.Keys().ListKeys(only ? std::optional<std::string_view>(*only) : std::nullopt);
  if (!keys) return Fail(keys.error());
  for (const auto& k : *keys)
    std::printf("%s\t%s\t%s\t%s\t…%s\tadded %s\tlast used %s\n", k.id.c_str(), names[k.owner_id].c_str(),
                k.provider.c_str(), k.label.c_str(), k.hint.c_str(), FormatIso8601(k.created_at).c_str(),
                k.last_used_at ? FormatIso8601(*k.last_used_at).c_str() : "never");
  if (keys->empty()) std::printf("no keys yet: aipassport vault add --owner NAME --provider P < key.txt\n");
  return 0;
}

int Remove(const Config& config, store::Store& store, const VaultCommand& command) {
  auto key = store.Keys().GetKey(command.key_id);
  if (!key) return Fail("no key with id '" + command.key_id + "'");
  auto audit_key = AuditKey(config, store);  // before anything changes
  if (!audit_key) return Fail(audit_key.error());
  if (auto ok = store.Keys().DeleteKey(command.key_id); !ok) return Fail(ok.error());
  if (auto ok = RecordAuditEvent(config, *audit_key, store, api::KeyEvent(api::audit_kind::kKeyRemoved, "cli", *key));
      !ok)
    return Fail("the key was removed, but the audit trail did not take it: " + ok.error().message);
  std::printf("removed the %s key '%s' (…%s); grants bound to it get key_missing until a key takes its label\n",
              key->provider.c_str(), key->label.c_str(), key->hint.c_str());
  return 0;
}

}  // namespace

// Re-wraps every data key (provider keys, signing keys, the audit key) under the new master key in
// one transaction; retried when a key changes meanwhile (a broker or another command added one).
int RotateMaster(const Config& config, store::Store& store, const VaultCommand& command) {
  auto old_master = OpenMasterKey(config, store);
  if (!old_master) return Fail(old_master.error());
  bool created = false;
  auto new_master = vault::LoadMasterKey({std::nullopt, command.new_key_file}, true, &created);
  if (!new_master) return Fail(new_master.error());
  if (new_master->Id() == old_master->Id()) return Misused(command.new_key_file + " holds the current master key");
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto keys = store.Keys().ListKeys(std::nullopt);
    if (!keys) return Fail(keys.error());
    std::vector<store::RewrappedKey> rows;
    for (const auto& key : *keys) {
      auto wrapped = vault::Rewrap(*old_master, *new_master, key);
      if (!wrapped) return Fail(wrapped.error());
      rows.push_back({key.id, std::move(*wrapped)});
    }
    auto signing_keys = vault::RewrapSigningKeys(*old_master, *new_master, store.SigningKeys());
    if (!signing_keys) return Fail(signing_keys.error());
    auto audit_key = vault::RewrapAuditKey(*old_master, *new_master, store.Keys());
    if (!audit_key) return Fail(audit_key.error());
    auto done = store.Keys().Rewrap(rows, *signing_keys, *audit_key, old_master->Id(), new_master->Id());
    if (done) {
      auto new_audit_key = vault::AuditChainKey(*new_master, store.Keys());
      record::AuditEvent event{std::string(api::audit_kind::kMasterKeyRotated), "cli", "", "",
                               "{\"keys\":" + std::to_string(rows.size()) + ",\"masterKeyId\":\"" + new_master->Id() + "\"}"};
      if (!new_audit_key || !RecordAuditEvent(config, *new_audit_key, store, event))
        std::fprintf(stderr, "aipassport: warning: the rotation is done, but the audit trail did not take it\n");
      std::printf(
          "re-wrapped %zu keys under the new master key %s (id %s)%s.\n"
          "Now give every broker the new key (vault.master_key_file = %s, or AIPASSPORT_MASTER_KEY) and restart them "
          "at leisure: until then they serve with the keys they hold. Then destroy the old key (%s).\n"
          "If the old key may have leaked with a copy of the database, whoever holds both can read the provider keys\n"
          "and sign tokens: once the brokers run on the new key, run 'aipassport keys rotate-signing "
          "--drop-older-keys'\n"
          "and replace every provider key at its provider ('vault add' under the same label).\n",
          rows.size(), command.new_key_file.c_str(), new_master->Id().c_str(), created ? ", made just now" : "",
          command.new_key_file.c_str(), MasterSource(config).c_str());
      return 0;
    }
    if (done.error().code != Errc::kUnavailable) return Fail(done.error());  // a key changed meanwhile: again
  }
  return Fail("the keys kept changing during the rotation; nothing was changed, try again");
}

std::string NewMasterKeyWarning(const Config& config) {
  return "warning: created the vault's master key in " + config.master_key_file.string() +
         "; in production keep it elsewhere (vault.master_key_file or AIPASSPORT_MASTER_KEY) and back it up: without "
         "it the stored provider keys cannot be read";
}

Result<vault::MasterKey> OpenMasterKey(const Config& config, store::Store& store, bool* created) {
  auto stored_id = store.Keys().MasterKeyId();
  if (!stored_id) return stored_id.error();
  bool made = false;
  auto key = vault::LoadMasterKey({config.master_key_base64, config.master_key_file}, !*stored_id, &made);
  if (!key) return key.error();
  if (created) *created = made;
  if (made && !created) std::fprintf(stderr, "%s\n", NewMasterKeyWarning(config).c_str());
  if (*stored_id && **stored_id != key->Id())
    return MakeError(Errc::kValidation, "the master key from " + MasterSource(config) + " (id " + key->Id() +
                                            ") is not the one the stored provider keys are sealed with (id " +
                                            **stored_id +
                                            "); give this command (and the brokers) that key: "
                                            "vault.master_key_file or AIPASSPORT_MASTER_KEY");
  return key;
}

int ManageVault(const Config& config, const VaultCommand& command) {
  if (auto ok = PrepareDataDir(config.data_dir); !ok) return Fail(ok.error());
  auto store = OpenConfiguredStore(config);
  if (!store) return Fail(store.error());
  if (auto made = EnsureOperatorAccount(**store, SystemClock()()); !made) return Fail(made.error());
  if (command.action == "add") return Add(config, **store, command);
  if (command.action == "list") return List(**store, command);
  if (command.action == "remove") return Remove(config, **store, command);
  if (command.action == "rotate-master") return RotateMaster(config, **store, command);
  return Misused("unknown vault action '" + command.action + "'");
}

}  // namespace ap::app
