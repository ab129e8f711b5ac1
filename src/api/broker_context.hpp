#pragma once
// What the API handlers work with. app/ builds it; handlers never see concrete store types.

#include "api/key_leak_guard.hpp"
#include "api/protected_resources.hpp"
#include "api/throttles.hpp"
#include "cluster/change_follower.hpp"
#include "core/time.hpp"
#include "crypto/signing_keys.hpp"
#include "domain/dpop.hpp"
#include "domain/grant_cache.hpp"
#include "domain/token_service.hpp"
#include "http/executor.hpp"
#include "metering/meter.hpp"
#include "metering/prices.hpp"
#include "metering/usage_recorder.hpp"
#include "proxy/upstream.hpp"
#include "record/record_writers.hpp"
#include "store/store.hpp"
#include "store/store_pool.hpp"
#include "telemetry/broker_metrics.hpp"
#include "vault/vault.hpp"

namespace ap::oauth {
class ClientMetadataResolver;
}

namespace ap::api {

struct BrokerContext {
  store::Store& store;             // only touched on store_pool
  http::BlockingPool& store_pool;  // one thread: store calls run there, in order
  http::BlockingPool& work_pool;   // CPU-heavy work kept off the I/O threads (password hashing)
  domain::GrantCache& grants;
  const domain::TokenService& tokens;
  domain::DpopVerifier& dpop;  // this process's checks; api::CheckDpopProof adds the store's
  proxy::Upstream& upstream;
  metering::UsageRecorder& usage;
  metering::Meter& meter;
  const metering::PriceTable& prices;
  Throttles& throttles;
  vault::Vault& vault;  // the provider keys; the owner token acts for vault.OperatorId()
  KeyLeakGuard& leaks;  // grants whose answers quoted their key
  bool https = false;   // browsers reach it over HTTPS, itself or a TLS proxy (cookies get Secure and __Host-)
  bool dynamic_registration = false;   // apps may register themselves at /oauth/register
  bool refuse_unpriced_models = true;  // pricing.unknown_models: a budgeted grant may not call them
  Clock clock;
  // SHA-256 hex of AIPASSPORT_ADMIN_TOKEN when set; otherwise the store's setting is the truth.
  std::string owner_token_hash_override;
  // The broker's own URL (scheme, host, port), the OAuth issuer; set once it listens.
  std::string public_url;
  record::ActivityRecorder& activity;           // one row per proxied call, written off the hot path
  record::AuditLog& audit;                      // the audit trail: ctx.audit.Record(record::AuditEvent{...})
  telemetry::BrokerMetrics* metrics = nullptr;  // null when metrics are off
  // What other brokers changed; a broker that has not read it for `follower_max_age` (the time after
  // which the others count its leases as lost) refuses calls rather than serve a grant revoked elsewhere.
  const cluster::ChangeFollower* follower = nullptr;
  std::chrono::milliseconds follower_max_age{30000};
  // Connections beside the store thread's for the owner's long reads (database.pool_size - 1 of
  // them, on as many threads); null when the pool size is 1.
  store::StorePool* readers = nullptr;
  http::BlockingPool* read_pool = nullptr;
  // Whether the store takes writes; proxied calls are refused while it does not. Null: not checked.
  const store::StoreWrites* store_writes = nullptr;
  // Apps whose client_id is the URL of their metadata document; null: none are accepted.
  oauth::ClientMetadataResolver* client_metadata = nullptr;
  // The OAuth issuer: the metadata's, the tokens' iss, RFC 9207's iss; public_url unless configured.
  // Set once it listens, with public_url.
  std::string issuer{};
  // What apps may ask tokens for (RFC 8707) and find described (RFC 9728); see protected_resources.hpp.
  std::vector<ProtectedResource> resources{};
  // The broker serves HTTPS itself: the scheme of the origin a browser reaching it directly (not
  // through the proxy `public_url` names) has. `https` says what its cookies need.
  bool tls = false;
};

// Runs `fn(Store&)` on the store thread and resumes on the caller's executor. The calls' usage
// waiting to be written is written first, so `fn` sees every call this broker answered.
template <class Fn>
auto OnStore(BrokerContext& ctx, Fn fn) {
  auto job = [&store = ctx.store, &usage = ctx.usage, fn = std::move(fn)]() mutable {
    usage.FlushIfWaiting();
    return fn(store);
  };
  return http::RunBlocking(ctx.store_pool, std::move(job));
}

// Runs `fn(Store&)`, a read that may take long (the owner's record, a download), on a connection of
// its own when the broker has more than one, so the store thread's work never waits behind it. It
// first lets the store thread finish what it was given before and write the calls' waiting usage
// (so the read sees what this broker wrote or queued until now, but for the rest of an activity
// batch being written, a transaction a job). `fn` returns a Result.
template <class Fn, class R = std::invoke_result_t<Fn&, store::Store&>>
boost::asio::awaitable<R> OnStoreRead(BrokerContext& ctx, Fn fn) {
  if (!ctx.readers) co_return co_await OnStore(ctx, std::move(fn));
  auto earlier_work_done = [](store::Store&) { return 0; };
  co_await OnStore(ctx, earlier_work_done);
  auto job = [readers = ctx.readers, fn = std::move(fn)]() mutable { return readers->Run(fn); };
  co_return co_await http::RunBlocking(*ctx.read_pool, std::move(job));
}

}  // namespace ap::api
