#pragma once
// A Store that hands every call to another: a test derives from it and overrides only the table
// group it changes (one that races, fails or counts on cue); ForwardingMetering does the same for
// the metering tables, so that a test overrides only the calls it changes.
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

class ForwardingMetering : public MeteringStore {
 public:
  explicit ForwardingMetering(MeteringStore& inner) : metering_(inner) {}

  Result<Lease> TakeLease(std::string_view grant_id, std::string_view node_id, Lease need, Lease want,
                          WriteId write) override {
    return metering_.TakeLease(grant_id, node_id, need, want, write);
  }
  Result<std::optional<Lease>> LeaseTaken(std::string_view grant_id, std::string_view node_id, WriteId write) override {
    return metering_.LeaseTaken(grant_id, node_id, write);
  }
  Status ReturnLease(std::string_view grant_id, std::string_view node_id, Lease unused, WriteId write,
                     WriteId from_take) override {
    return metering_.ReturnLease(grant_id, node_id, unused, write, from_take);
  }
  Status DropEmptyLease(std::string_view grant_id, std::string_view node_id) override {
    return metering_.DropEmptyLease(grant_id, node_id);
  }
  Result<std::vector<SpendChange>> Settle(std::string_view node_id, WriteId batch,
                                          const std::vector<UsageRecord>& rows) override {
    return metering_.Settle(node_id, batch, rows);
  }
  Result<Beat> Heartbeat(std::string_view node_id, UnixSeconds now, UnixSeconds stale_before) override {
    return metering_.Heartbeat(node_id, now, stale_before);
  }
  Result<std::vector<std::string>> LiveNodes(UnixSeconds seen_since) override {
    return metering_.LiveNodes(seen_since);
  }
  Result<UnixSeconds> DatabaseNow() override { return metering_.DatabaseNow(); }
  Status RetireNode(std::string_view node_id, UnixSeconds now) override { return metering_.RetireNode(node_id, now); }
  Status AddEvent(const EventRecord& event) override { return metering_.AddEvent(event); }
  Result<std::vector<EventRecord>> ListEvents(std::string_view grant_id, int64_t after_id, int64_t limit) override {
    return metering_.ListEvents(grant_id, after_id, limit);
  }
  Result<std::vector<EventRecord>> ListRecentEvents(std::string_view grant_id, std::optional<int64_t> before_id,
                                                    int64_t limit) override {
    return metering_.ListRecentEvents(grant_id, before_id, limit);
  }
  Result<std::vector<UsageRecord>> ListUsage(std::string_view grant_id, const std::optional<UsageRecord>& after,
                                             int64_t limit) override {
    return metering_.ListUsage(grant_id, after, limit);
  }
  Result<std::vector<UsageRecord>> ListUsageFrom(std::string_view grant_id, std::string_view from_day,
                                                 int64_t limit) override {
    return metering_.ListUsageFrom(grant_id, from_day, limit);
  }
  Result<UsageRecord> TotalUsage(std::string_view grant_id) override { return metering_.TotalUsage(grant_id); }

 protected:
  MeteringStore& metering_;
};

}  // namespace ap::store
