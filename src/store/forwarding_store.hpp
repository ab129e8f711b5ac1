#pragma once
// A Store that hands every call to another: a test derives from it and overrides only the table
// group it changes (one that races, fails or counts on cue).
// Thread-safety: as the store it forwards to.

#include "store/store.hpp"

namespace ap::store {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store& inner) : inner_(inner) {}

  GrantStore& Grants() override { return inner_.Grants(); }
  MeteringStore& Metering() override { return inner_.Metering(); }
  IdentityStore& Identity() override { return inner_.Identity(); }
  OAuthStore& OAuth() override { return inner_.OAuth(); }
  KeyStore& Keys() override { return inner_.Keys(); }
  ActivityStore& Activity() override { return inner_.Activity(); }
  AuditStore& Audit() override { return inner_.Audit(); }
  ChangeStore& Changes() override { return inner_.Changes(); }
  FlowStore& Flows() override { return inner_.Flows(); }
  SigningKeyStore& SigningKeys() override { return inner_.SigningKeys(); }
  Result<int64_t> SchemaVersion() override { return inner_.SchemaVersion(); }
  int64_t KnownSchemaVersion() const override { return inner_.KnownSchemaVersion(); }
  Result<std::optional<std::string>> GetSetting(std::string_view key) override { return inner_.GetSetting(key); }
  Status PutSetting(std::string_view key, std::string_view value) override { return inner_.PutSetting(key, value); }
  Result<bool> AddSettingIfAbsent(std::string_view key, std::string_view value) override {
    return inner_.AddSettingIfAbsent(key, value);
  }

 protected:
  Store& inner_;
};

}  // namespace ap::store
