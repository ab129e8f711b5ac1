#include "vault/vault.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include "vault/sealing.hpp"

namespace ap::vault {
namespace {

// Where a key is held: "owner\0provider\0label", appended to `out`.
void AppendSlot(std::string& out, std::string_view owner_id, std::string_view provider, std::string_view label) {
  out.append(owner_id).append(1, '\0').append(provider).append(1, '\0').append(label);
}

std::string SlotOf(std::string_view owner_id, std::string_view provider, std::string_view label) {
  std::string slot;
  AppendSlot(slot, owner_id, provider, label);
  return slot;
}

KeyRef Held(std::string id, std::string owner_id, std::string provider, std::string label, std::string_view secret) {
  auto key = std::make_shared<HeldKey>();
  key->id = std::move(id);
  key->owner_id = std::move(owner_id);
  key->provider = std::move(provider);
  key->label = std::move(label);
  key->secret = std::string(secret);
  return key;
}

}  // namespace

HeldKey::~HeldKey() { sodium_memzero(secret.data(), secret.size()); }

Vault::Vault(MasterKey master, std::string operator_id, Sharing sharing)
    : master_(std::move(master)),
      operator_id_(std::move(operator_id)),
      sharing_(std::move(sharing)),
      snapshot_(std::make_shared<Snapshot>()) {}

std::shared_ptr<const Vault::Snapshot> Vault::Current() const { return snapshot_.load(std::memory_order_acquire); }

template <class Edit>
void Vault::Change(Edit edit) {
  std::lock_guard lock(mutex_);
  auto next = std::make_shared<Snapshot>(*Current());
  edit(*next);
  snapshot_.store(std::move(next), std::memory_order_release);
  if (listener_) listener_(Secrets());
}

void Vault::OnChange(std::function<void(const std::vector<std::string>&)> listener) {
  std::lock_guard lock(mutex_);
  listener_ = std::move(listener);
  listener_(Secrets());
}

void Vault::SetEnvironmentKeys(const std::map<std::string, std::string>& keys) {
  Change([&](Snapshot& s) {
    s.environment.clear();
    for (const auto& [provider, secret] : keys)
      s.environment[provider] = Held("", operator_id_, provider, std::string(kEnvironmentLabel), secret);
  });
}

void Vault::Load(const std::vector<store::ProviderKeyRecord>& records, const std::vector<store::OwnerRecord>& owners) {
  std::map<std::string, KeyRef, std::less<>> loaded;
  auto before = Current();
  for (const auto& record : records) {
    std::string slot = SlotOf(record.owner_id, record.provider, record.label);
    if (auto it = before->vault.find(slot); it != before->vault.end() && it->second->id == record.id) {
      loaded[slot] = it->second;  // unchanged: keep it (and its last use)
      continue;
    }
    auto secret = Unseal(master_, record);
    if (!secret) {
      spdlog::error("provider key {} ({} '{}') cannot be used: {}", record.id, record.provider, record.label,
                    secret.error().message);
      continue;
    }
    loaded[slot] = Held(record.id, record.owner_id, record.provider, record.label, *secret);
    sodium_memzero(secret->data(), secret->size());
  }
  Change([&](Snapshot& s) {
    s.vault = std::move(loaded);
    for (const auto& owner : owners)
      if (sharing_.usernames.count(owner.username)) s.shared_owner_ids.insert(owner.id);
  });
}

store::ProviderKeyRecord Vault::Seal(std::string id, std::string owner_id, std::string provider, std::string label,
                                     std::string_view secret, UnixSeconds now) const {
  store::ProviderKeyRecord record;
  record.id = std::move(id);
  record.owner_id = std::move(owner_id);
  record.provider = std::move(provider);
  record.label = std::move(label);
  record.hint = KeyHint(secret);
  record.created_at = now;
  vault::Seal(master_, secret, record);
  return record;
}

void Vault::Put(const store::ProviderKeyRecord& record, std::string_view secret) {
  KeyRef key = Held(record.id, record.owner_id, record.provider, record.label, secret);
  Change([&](Snapshot& s) { s.vault[SlotOf(record.owner_id, record.provider, record.label)] = key; });
}

void Vault::Remove(std::string_view id) {
  Change([&](Snapshot& s) { std::erase_if(s.vault, [&](const auto& entry) { return entry.second->id == id; }); });
}

void Vault::NoteOwner(const store::OwnerRecord& owner) {
  if (!sharing_.usernames.count(owner.username) || Current()->shared_owner_ids.count(owner.id)) return;
  Change([&](Snapshot& s) { s.shared_owner_ids.insert(owner.id); });
}

bool Vault::MaySpendEnvironment(const Snapshot& s, std::string_view owner_id) const {
  return owner_id == operator_id_ || sharing_.everyone || s.shared_owner_ids.count(owner_id) > 0;
}

KeyRef Vault::Find(std::string_view owner_id, std::string_view provider, std::string_view label) const {
  auto s = Current();
  thread_local std::string slot;  // every call looks its key up: its slot is written where the last one was
  slot.clear();
  AppendSlot(slot, owner_id, provider, label);
  if (auto it = s->vault.find(slot); it != s->vault.end()) return it->second;
  if (label != kEnvironmentLabel || !MaySpendEnvironment(*s, owner_id)) return nullptr;
  auto it = s->environment.find(provider);
  return it == s->environment.end() ? nullptr : it->second;
}

std::vector<std::string> Vault::Labels(std::string_view owner_id, std::string_view provider) const {
  auto s = Current();
  std::vector<std::string> labels;
  std::string prefix = SlotOf(owner_id, provider, "");
  for (auto it = s->vault.lower_bound(prefix); it != s->vault.end() && it->first.starts_with(prefix); ++it)
    labels.push_back(it->second->label);
  bool shadowed = std::find(labels.begin(), labels.end(), kEnvironmentLabel) != labels.end();
  if (!shadowed && EnvironmentKey(owner_id, provider)) labels.emplace_back(kEnvironmentLabel);
  return labels;
}

KeyRef Vault::EnvironmentKey(std::string_view owner_id, std::string_view provider) const {
  auto s = Current();
  if (!MaySpendEnvironment(*s, owner_id)) return nullptr;
  auto it = s->environment.find(provider);
  return it == s->environment.end() ? nullptr : it->second;
}

std::vector<std::string> Vault::Secrets() const {
  auto s = Current();
  std::vector<std::string> out;
  for (const auto* keys : {&s->vault, &s->environment})
    for (const auto& [slot, key] : *keys) out.push_back(key->secret);
  return out;
}

std::vector<std::pair<std::string, UnixSeconds>> Vault::TakeUsed() {
  std::lock_guard lock(mutex_);
  auto s = Current();
  std::vector<std::pair<std::string, UnixSeconds>> used;
  // Kept for the keys held only: each replacement is a new id, and an owner may replace a key
  // under one label without end.
  std::map<std::string, UnixSeconds> reported;
  for (const auto& [slot, key] : s->vault) {
    UnixSeconds at = key->last_used_at.load(std::memory_order_relaxed);
    auto before = reported_.find(key->id);
    UnixSeconds seen = before == reported_.end() ? 0 : before->second;
    if (at > seen) {
      used.emplace_back(key->id, at);
      seen = at;
    }
    if (seen > 0) reported.emplace(key->id, seen);
  }
  reported_ = std::move(reported);
  return used;
}

}  // namespace ap::vault
