#include "store/tables/flow_tables.hpp"

#include "store/grant_store.hpp"

namespace ap::store::tables {

using sql::kDone;
using sql::kRow;
using sql::Query;
namespace {

// PostgreSQL: one writer at a time per bounded table, so that a count then an insert holds the bound
// across brokers (SQLite's write transaction already is one at a time).
const char* const kLockPending = "SELECT pg_advisory_xact_lock(7272101)";
const char* const kLockDevices = "SELECT pg_advisory_xact_lock(7272102)";

#define AP_PENDING_COLUMNS "grant_id, client_id, redirect_uri, state, code_challenge, lifetime_seconds, expires_at, resources"
const std::string kPrunePending = "DELETE FROM pending_authorizations WHERE expires_at < ?";
const std::string kCountPending = "SELECT COUNT(*) FROM pending_authorizations";
const std::string kInsertPending =
    "INSERT INTO pending_authorizations (" AP_PENDING_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
const std::string kSelectPending =
    "SELECT " AP_PENDING_COLUMNS " FROM pending_authorizations WHERE grant_id = ? AND expires_at >= ?";
const std::string kTakePending = "DELETE FROM pending_authorizations WHERE grant_id = ? RETURNING " AP_PENDING_COLUMNS;
#undef AP_PENDING_COLUMNS

#define AP_DEVICE_COLUMNS                                                                                   \
  "device_code_hash, user_code_hash, client_id, scope_json, lifetime_seconds, reason, grant_id, decision, " \
  "poll_interval, last_poll, expires_at, resources"
const std::string kPruneDevices = "DELETE FROM device_authorizations WHERE expires_at < ?";
const std::string kCountDevices = "SELECT COUNT(*) FROM device_authorizations";
const std::string kInsertDevice =
    "INSERT INTO device_authorizations (" AP_DEVICE_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const std::string kSelectWaitingDevice = "SELECT " AP_DEVICE_COLUMNS
                                         " FROM device_authorizations WHERE user_code_hash = ? AND "
                                         "decision = 'waiting' AND grant_id = '' AND expires_at >= ? LIMIT 1";
const std::string kSelectDeviceByGrant = "SELECT " AP_DEVICE_COLUMNS
                                         " FROM device_authorizations WHERE grant_id = ? AND grant_id <> '' AND "
                                         "decision = 'waiting' LIMIT 1";
const std::string kSelectDevice = "SELECT " AP_DEVICE_COLUMNS " FROM device_authorizations WHERE device_code_hash = ?";
const std::string kLockDevice =
    "SELECT " AP_DEVICE_COLUMNS " FROM device_authorizations WHERE device_code_hash = ? FOR UPDATE";
#undef AP_DEVICE_COLUMNS
const std::string kAttachDevice =
    "UPDATE device_authorizations SET grant_id = ? WHERE device_code_hash = ? AND grant_id = '' AND "
    "decision = 'waiting' AND expires_at >= ? RETURNING device_code_hash";
const std::string kDetachDevice =
    "UPDATE device_authorizations SET grant_id = '' WHERE device_code_hash = ? AND grant_id = ? AND "
    "decision = 'waiting'";
const std::string kDecideDevice =
    "UPDATE device_authorizations SET decision = ? WHERE grant_id = ? AND grant_id <> '' AND decision = 'waiting' "
    "RETURNING device_code_hash";
// The grant a person's entered code made: the owner may decide it elsewhere than on the consent
// screen that finishes the device's request (the grants API, the console's revoke).
const std::string kAttachedGrantStatus = "SELECT status FROM grants WHERE id = ?";
const std::string kPolledDevice =
    "UPDATE device_authorizations SET decision = ?, poll_interval = ?, last_poll = ? WHERE device_code_hash = ?";

const std::string kPruneProofs = "DELETE FROM dpop_proofs WHERE forget_at < ?";
const std::string kCountProofs = "SELECT COUNT(*) FROM dpop_proofs";
// A lapsed row under the same hash is taken over; a live one is left alone (nothing returned).
const std::string kRememberProof =
    "INSERT INTO dpop_proofs (proof_hash, jkt, forget_at) VALUES (?, ?, ?) ON CONFLICT (proof_hash) DO UPDATE SET "
    "jkt = excluded.jkt, forget_at = excluded.forget_at WHERE dpop_proofs.forget_at < ? RETURNING proof_hash";
const std::string kLiveProof = "SELECT 1 FROM dpop_proofs WHERE proof_hash = ? AND forget_at >= ?";
const std::string kCountKeyProofs = "SELECT COUNT(*) FROM dpop_proofs WHERE jkt = ? AND forget_at >= ?";

const std::string kPruneLogins = "DELETE FROM login_failures WHERE last_at < ?";
const std::string kCountLogins = "SELECT COUNT(*) FROM login_failures";
const std::string kEvictLogins =
    "DELETE FROM login_failures WHERE throttle_key IN "
    "(SELECT throttle_key FROM login_failures ORDER BY last_at, throttle_key LIMIT ?)";
const std::string kSelectLogin = "SELECT failures, last_at FROM login_failures WHERE throttle_key = ?";
const std::string kCountLogin =
    "INSERT INTO login_failures (throttle_key, failures, last_at) VALUES (?, 1, ?) ON CONFLICT (throttle_key) DO "
    "UPDATE SET failures = CASE WHEN login_failures.last_at < ? THEN 1 ELSE login_failures.failures + 1 END, "
    "last_at = CASE WHEN excluded.last_at > login_failures.last_at THEN excluded.last_at "
    "ELSE login_failures.last_at END";
const std::string kForgetLogin = "DELETE FROM login_failures WHERE throttle_key = ?";

const std::string kPutNonceKey =
    "INSERT INTO settings (key, value) VALUES ('dpop_nonce_key', ?) ON CONFLICT (key) DO NOTHING";
const std::string kGetNonceKey = "SELECT value FROM settings WHERE key = 'dpop_nonce_key'";

constexpr int64_t kCensusSeconds = 10;

const char* DecisionName(DeviceDecision d) {
  switch (d) {
    case DeviceDecision::kApproved:
      return "approved";
    case DeviceDecision::kDenied:
      return "denied";
    case DeviceDecision::kUsed:
      return "used";
    case DeviceDecision::kWaiting:
      break;
  }
  return "waiting";
}

DeviceDecision ParseDecision(const std::string& name) {
  if (name == "approved") return DeviceDecision::kApproved;
  if (name == "denied") return DeviceDecision::kDenied;
  if (name == "used") return DeviceDecision::kUsed;
  return DeviceDecision::kWaiting;
}

PendingAuthorizationRecord ReadPending(const Query& q) {
  return PendingAuthorizationRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3),
                                    q.Text(4), q.Int(5),  q.Int(6),  q.Text(7)};
}

DeviceAuthorizationRecord ReadDevice(const Query& q) {
  return DeviceAuthorizationRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3),
                                   q.Int(4),  q.Text(5), q.Text(6), ParseDecision(q.Text(7)),
                                   q.Int(8),  q.Int(9),  q.Int(10), q.Text(11)};
}

}  // namespace

Result<int64_t> FlowTables::Census(const std::string& prune_sql, const std::string& count_sql, UnixSeconds cutoff,
                                   const char* what) {
  Query prune(db_.Prepare(prune_sql));
  prune.Bind(cutoff);
  if (prune.Step() != kDone) return db_.DbError(what);
  Query count(db_.Prepare(count_sql));
  if (count.Step() != kRow) return db_.DbError(what);
  return count.Int(0);
}

Result<bool> FlowTables::PutPendingAuthorization(const PendingAuthorizationRecord& p, UnixSeconds now, int64_t max) {
  return db_.InTransaction([&]() -> Result<bool> {
    if (db_.dialect() == sql::Dialect::kPostgres)
      if (auto locked = db_.Exec(kLockPending); !locked) return locked.error();
    auto live = Census(kPrunePending, kCountPending, now, "store authorization request");
    if (!live) return live.error();
    if (*live >= max) return false;
    Query q(db_.Prepare(kInsertPending));
    q.Bind(p.grant_id).Bind(p.client_id).Bind(p.redirect_uri).Bind(p.state).Bind(p.code_challenge);
    q.Bind(p.lifetime_seconds).Bind(p.expires_at).Bind(p.resources);
    if (q.Step() != kDone) return db_.DbError("store authorization request");
    return true;
  });
}

Result<std::optional<PendingAuthorizationRecord>> FlowTables::FindPendingAuthorization(std::string_view grant_id,
                                                                                       UnixSeconds now) {
  Query q(db_.Prepare(kSelectPending));
  q.Bind(grant_id).Bind(now);
  int rc = q.Step();
  if (rc == kDone) return std::optional<PendingAuthorizationRecord>();
  if (rc != kRow) return db_.DbError("read authorization request");
  return std::optional<PendingAuthorizationRecord>(ReadPending(q));
}

Result<std::optional<PendingAuthorizationRecord>> FlowTables::TakePendingAuthorization(std::string_view grant_id,
                                                                                       UnixSeconds now) {
  Query q(db_.Prepare(kTakePending));
  q.Bind(grant_id);
  int rc = q.Step();
  if (rc == kDone) return std::optional<PendingAuthorizationRecord>();
  if (rc != kRow) return db_.DbError("take authorization request");
  PendingAuthorizationRecord taken = ReadPending(q);
  if (q.Step() != kDone) return db_.DbError("take authorization request");
  if (taken.expires_at < now) return std::optional<PendingAuthorizationRecord>();
  return std::optional<PendingAuthorizationRecord>(std::move(taken));
}

Result<bool> FlowTables::PutDeviceAuthorization(const DeviceAuthorizationRecord& d, UnixSeconds now, int64_t max) {
  return db_.InTransaction([&]() -> Result<bool> {
    if (db_.dialect() == sql::Dialect::kPostgres)
      if (auto locked = db_.Exec(kLockDevices); !locked) return locked.error();
    auto live = Census(kPruneDevices, kCountDevices, now, "store device authorization");
    if (!live) return live.error();
    if (*live >= max) return false;
    Query q(db_.Prepare(kInsertDevice));
    q.Bind(d.device_code_hash).Bind(d.user_code_hash).Bind(d.client_id).Bind(d.scope_json).Bind(d.lifetime_seconds);
    q.Bind(d.reason).Bind(d.grant_id).Bind(DecisionName(d.decision)).Bind(d.interval).Bind(d.last_poll);
    q.Bind(d.expires_at).Bind(d.resources);
    if (q.Step() != kDone) return db_.DbError("store device authorization");
    return true;
  });
}

Result<std::optional<DeviceAuthorizationRecord>> FlowTables::OneDevice(const std::string& sql, std::string_view key,
                                                                       std::optional<UnixSeconds> now,
                                                                       const char* what) {
  Query q(db_.Prepare(sql));
  q.Bind(key);
  if (now) q.Bind(*now);
  int rc = q.Step();
  if (rc == kDone) return std::optional<DeviceAuthorizationRecord>();
  if (rc != kRow) return db_.DbError(what);
  return std::optional<DeviceAuthorizationRecord>(ReadDevice(q));
}

Result<std::optional<DeviceAuthorizationRecord>> FlowTables::FindWaitingDevice(std::string_view user_code_hash,
                                                                               UnixSeconds now) {
  return OneDevice(kSelectWaitingDevice, user_code_hash, now, "read device authorization");
}

Result<bool> FlowTables::AttachDeviceGrant(std::string_view device_code_hash, std::string_view grant_id,
                                           UnixSeconds now) {
  Query q(db_.Prepare(kAttachDevice));
  q.Bind(grant_id).Bind(device_code_hash).Bind(now);
  int rc = q.Step();
  if (rc == kDone) return false;
  if (rc != kRow || q.Step() != kDone) return db_.DbError("attach device authorization");
  return true;
}

Status FlowTables::DetachDeviceGrant(std::string_view device_code_hash, std::string_view grant_id) {
  Query q(db_.Prepare(kDetachDevice));
  q.Bind(device_code_hash).Bind(grant_id);
  if (q.Step() != kDone) return db_.DbError("detach device authorization");
  return {};
}

Result<std::optional<DeviceAuthorizationRecord>> FlowTables::FindDeviceByGrant(std::string_view grant_id) {
  return OneDevice(kSelectDeviceByGrant, grant_id, std::nullopt, "read device authorization");
}

Result<bool> FlowTables::DecideDevice(std::string_view grant_id, bool approved) {
  Query q(db_.Prepare(kDecideDevice));
  q.Bind(DecisionName(approved ? DeviceDecision::kApproved : DeviceDecision::kDenied)).Bind(grant_id);
  int rc = q.Step();
  if (rc == kDone) return false;
  if (rc != kRow || q.Step() != kDone) return db_.DbError("decide device authorization");
  return true;
}

Result<DeviceDecision> FlowTables::DecidedElsewhere(std::string_view grant_id) {
  Query q(db_.Prepare(kAttachedGrantStatus));
  q.Bind(grant_id);
  int rc = q.Step();
  // Not yet there: the code is attached before the grant is stored (another broker may poll between).
  if (rc == kDone) return DeviceDecision::kWaiting;
  if (rc != kRow) return db_.DbError("poll device authorization");
  auto status = ParseGrantStatus(q.Text(0));
  if (!status || status == GrantStatus::kPending) return DeviceDecision::kWaiting;
  if (status == GrantStatus::kDenied || status == GrantStatus::kRevoked) return DeviceDecision::kDenied;
  return DeviceDecision::kApproved;  // the tokens then say whether it can still be used
}

Result<DevicePollResult> FlowTables::PollDevice(std::string_view device_code_hash, std::string_view client_id,
                                                UnixSeconds now) {
  return db_.InTransaction([&]() -> Result<DevicePollResult> {
    bool postgres = db_.dialect() == sql::Dialect::kPostgres;
    auto found =
        OneDevice(postgres ? kLockDevice : kSelectDevice, device_code_hash, std::nullopt, "poll device authorization");
    if (!found) return found.error();
    DevicePollResult result;
    if (!*found || (*found)->client_id != client_id) return result;
    DeviceAuthorizationRecord& d = **found;
    result.interval = d.interval;
    if (d.decision == DeviceDecision::kUsed) {
      result.outcome = DevicePoll::kUsed;
      return result;
    }
    if (d.expires_at < now) {
      result.outcome = DevicePoll::kExpired;
      return result;
    }
    if (d.decision == DeviceDecision::kWaiting && !d.grant_id.empty()) {
      auto decided = DecidedElsewhere(d.grant_id);
      if (!decided) return decided.error();
      d.decision = *decided;
    }
    bool too_early = d.last_poll != 0 && now - d.last_poll < d.interval;
    d.last_poll = now;
    if (too_early) {
      d.interval += kSlowDownSeconds;
      result.interval = d.interval;
      result.outcome = DevicePoll::kSlowDown;
    } else if (d.decision == DeviceDecision::kApproved) {
      d.decision = DeviceDecision::kUsed;
      result.outcome = DevicePoll::kApproved;
      result.grant_id = d.grant_id;
      result.resources = d.resources;
    } else {
      result.outcome = d.decision == DeviceDecision::kDenied ? DevicePoll::kDenied : DevicePoll::kPending;
    }
    Query q(db_.Prepare(kPolledDevice));
    q.Bind(DecisionName(d.decision)).Bind(d.interval).Bind(d.last_poll).Bind(device_code_hash);
    if (q.Step() != kDone) return db_.DbError("poll device authorization");
    return result;
  });
}

Result<FlowTables::ProofBound> FlowTables::ProofsBound(std::string_view jkt, UnixSeconds now, int64_t max) {
  if (live_proofs_ >= max) return ProofBound::kFull;
  if (live_proofs_ < max / 2) return ProofBound::kWithin;
  Query count(db_.Prepare(kCountKeyProofs));
  count.Bind(jkt).Bind(now);
  if (count.Step() != kRow) return db_.DbError("count a DPoP key's proofs");
  return count.Int(0) < std::max<int64_t>(1, max / 16) ? ProofBound::kWithin : ProofBound::kKeyOverShare;
}

Result<bool> FlowTables::RememberProof(std::string_view proof_hash, std::string_view jkt, UnixSeconds forget_at,
                                       UnixSeconds now, int64_t max) {
  // Once a quarter are live, counted every second, so that the bounds below (half of them) are
  // known soon enough however many brokers add to them.
  int64_t census_every = live_proofs_ >= max / 4 ? 1 : kCensusSeconds;
  if (now - proofs_census_at_ >= census_every || live_proofs_ >= max) {
    auto live = Census(kPruneProofs, kCountProofs, now, "prune DPoP proofs");
    if (!live) return live.error();
    live_proofs_ = *live;
    proofs_census_at_ = now;
  }
  auto bound = ProofsBound(jkt, now, max);
  if (!bound) return bound.error();
  if (*bound != ProofBound::kWithin) {
    Query seen(db_.Prepare(kLiveProof));
    seen.Bind(proof_hash).Bind(now);
    int rc = seen.Step();
    if (rc == kRow) return false;  // a replay is refused as one, whatever the bound
    if (rc != kDone) return db_.DbError("check DPoP proof");
    Error refused = *bound == ProofBound::kFull
                        ? MakeError(Errc::kUnavailable, "Too many DPoP proofs in flight; try again shortly")
                        : MakeError(Errc::kRateLimited, "Too many DPoP proofs by this key; try again shortly");
    refused.retry_after_seconds = 5;
    return refused;
  }
  Query q(db_.Prepare(kRememberProof));
  q.Bind(proof_hash).Bind(jkt).Bind(forget_at).Bind(now);
  int rc = q.Step();
  if (rc == kDone) return false;
  if (rc != kRow || q.Step() != kDone) return db_.DbError("remember DPoP proof");
  ++live_proofs_;
  return true;
}

Result<LoginFailureCount> FlowTables::LoginFailures(std::string_view key, UnixSeconds now, int64_t window) {
  Query q(db_.Prepare(kSelectLogin));
  q.Bind(key);
  int rc = q.Step();
  if (rc == kDone) return LoginFailureCount{};
  if (rc != kRow) return db_.DbError("read sign-in failures");
  LoginFailureCount count{q.Int(0), q.Int(1)};
  if (now - count.last > window) return LoginFailureCount{};
  return count;
}

Status FlowTables::CountLoginFailure(std::string_view key, UnixSeconds now, int64_t window, int64_t max) {
  if (now - logins_census_at_ >= kCensusSeconds || tracked_logins_ >= max) {
    auto tracked = Census(kPruneLogins, kCountLogins, now - window, "prune sign-in failures");
    if (!tracked) return tracked.error();
    tracked_logins_ = *tracked;
    logins_census_at_ = now;
    if (tracked_logins_ >= max) {  // never refuse: the counts touched longest ago make room
      Query evict(db_.Prepare(kEvictLogins));
      evict.Bind(tracked_logins_ - max + 1);
      if (evict.Step() != kDone) return db_.DbError("prune sign-in failures");
      tracked_logins_ = max - 1;
    }
  }
  Query q(db_.Prepare(kCountLogin));
  q.Bind(key).Bind(now).Bind(now - window);
  if (q.Step() != kDone) return db_.DbError("count sign-in failure");
  ++tracked_logins_;
  return {};
}

Status FlowTables::ForgetLoginFailures(std::string_view key) {
  Query q(db_.Prepare(kForgetLogin));
  q.Bind(key);
  if (q.Step() != kDone) return db_.DbError("forget sign-in failures");
  return {};
}

Result<std::string> FlowTables::SharedNonceKey(std::string_view candidate) {
  Query put(db_.Prepare(kPutNonceKey));
  put.Bind(candidate);
  if (put.Step() != kDone) return db_.DbError("store the DPoP nonce key");
  Query get(db_.Prepare(kGetNonceKey));
  if (get.Step() != kRow) return db_.DbError("read the DPoP nonce key");
  return get.Text(0);
}

}  // namespace ap::store::tables
