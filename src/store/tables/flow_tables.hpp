#pragma once
// The FlowStore on SQL (SQLite or PostgreSQL): the pending_authorizations, device_authorizations,
// dpop_proofs and login_failures tables.
// Thread-safety: one thread at a time (the store worker).

#include "store/flow_store.hpp"
#include "store/sql/connection.hpp"

namespace ap::store::tables {

using sql::Connection;

class FlowTables final : public FlowStore {
 public:
  explicit FlowTables(Connection& db) : db_(db) {}

  Result<bool> PutPendingAuthorization(const PendingAuthorizationRecord& pending, UnixSeconds now,
                                       int64_t max) override;
  Result<std::optional<PendingAuthorizationRecord>> FindPendingAuthorization(std::string_view grant_id,
                                                                             UnixSeconds now) override;
  Result<std::optional<PendingAuthorizationRecord>> TakePendingAuthorization(std::string_view grant_id,
                                                                             UnixSeconds now) override;
  Result<bool> PutDeviceAuthorization(const DeviceAuthorizationRecord& device, UnixSeconds now, int64_t max) override;
  Result<std::optional<DeviceAuthorizationRecord>> FindWaitingDevice(std::string_view user_code_hash,
                                                                     UnixSeconds now) override;
  Result<bool> AttachDeviceGrant(std::string_view device_code_hash, std::string_view grant_id,
                                 UnixSeconds now) override;
  Status DetachDeviceGrant(std::string_view device_code_hash, std::string_view grant_id) override;
  Result<std::optional<DeviceAuthorizationRecord>> FindDeviceByGrant(std::string_view grant_id) override;
  Result<bool> DecideDevice(std::string_view grant_id, bool approved) override;
  Result<DevicePollResult> PollDevice(std::string_view device_code_hash, std::string_view client_id,
                                      UnixSeconds now) override;
  Result<bool> RememberProof(std::string_view proof_hash, std::string_view jkt, UnixSeconds forget_at, UnixSeconds now,
                             int64_t max) override;
  int64_t LiveProofs() const override { return live_proofs_; }
  Result<LoginFailureCount> LoginFailures(std::string_view key, UnixSeconds now, int64_t window) override;
  Status CountLoginFailure(std::string_view key, UnixSeconds now, int64_t window, int64_t max) override;
  Status ForgetLoginFailures(std::string_view key) override;
  Result<std::string> SharedNonceKey(std::string_view candidate) override;

 private:
  // Drops lapsed rows of a table and counts the live ones, at most every few seconds: the counts
  // below are this connection's estimates between two censuses (its own inserts added).
  Result<int64_t> Census(const std::string& prune_sql, const std::string& count_sql, UnixSeconds cutoff,
                         const char* what);
  // Whether `max` live proofs are remembered (kFull), or half of them and a sixteenth by `jkt`.
  enum class ProofBound { kWithin, kFull, kKeyOverShare };
  Result<ProofBound> ProofsBound(std::string_view jkt, UnixSeconds now, int64_t max);
  // What the owner made of the grant a device's waiting request is attached to.
  Result<DeviceDecision> DecidedElsewhere(std::string_view grant_id);
  Result<std::optional<DeviceAuthorizationRecord>> OneDevice(const std::string& sql, std::string_view key,
                                                             std::optional<UnixSeconds> now, const char* what);

  Connection& db_;
  int64_t live_proofs_ = 0;
  UnixSeconds proofs_census_at_ = -1;
  int64_t tracked_logins_ = 0;
  UnixSeconds logins_census_at_ = -1;
};

}  // namespace ap::store::tables
