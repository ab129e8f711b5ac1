#include "app/broker.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>

#include "api/audit_events.hpp"
#include "api/dispatcher.hpp"
#include "api/key_api.hpp"
#include "api/native_api.hpp"
#include "api/record_api.hpp"
#include "api/record_upkeep.hpp"
#include "api/reference_api.hpp"
#include "app/admin_token.hpp"
#include "app/failure.hpp"
#include "app/record_commands.hpp"
#include "app/vault_commands.hpp"
#include "cluster/change_follower.hpp"
#include "core/ids.hpp"
#include "crypto/hash.hpp"
#include "http/client.hpp"
#include "http/response.hpp"
#include "http/same_origin.hpp"
#include "http/server.hpp"
#include "http/thread_priority.hpp"
#include "oauth/client_metadata.hpp"
#include "oauth/oauth_api.hpp"
#include "record/audit_chain.hpp"
#include "store/open_store.hpp"
#include "store/postgres/change_listener.hpp"
#include "telemetry/broker_metrics.hpp"
#include "telemetry/logging.hpp"
#include "ui/app_pages.hpp"
#include "ui/consent_pages.hpp"
#include "ui/console_pages.hpp"
#include "ui/device_pages.hpp"
#include "ui/owner_pages.hpp"
#include "vault/sealing.hpp"
#include "vault/signing_ring.hpp"

namespace ap::app {
namespace {

// Where the first start leaves the owner token when its output is not a terminal.
std::filesystem::path OwnerTokenFile(const std::filesystem::path& data_dir) { return data_dir / "owner-token"; }

// The owner token the first start made. On a terminal it is printed; otherwise the output is a
// service's, which a journal keeps and others may read, so the token goes to a file only this user
// may read, and the output says where. If that file cannot be written, the token is given up (a
// new one takes `admin-token --reset`), never printed.
void ShowNewOwnerToken(const std::string& token, const std::filesystem::path& data_dir) {
  if (::isatty(STDOUT_FILENO)) {
    telemetry::Announce("owner token (shown once, keep it secret): " + token);
    return;
  }
  std::filesystem::path file = OwnerTokenFile(data_dir);
  std::string text = token + "\n";
  // A new file of this user's, whatever was there (a link to elsewhere, another's file) before.
  ::unlink(file.c_str());
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  bool written =
      fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  std::error_code ec;
  std::string path = std::filesystem::weakly_canonical(file, ec).string();
  if (path.empty()) path = file.string();
  if (!written) {
    if (fd >= 0) ::unlink(file.c_str());
    telemetry::Complain("the owner token could not be written to " + path +
                        "; make one with: aipassport admin-token --reset --data-dir " + data_dir.string());
    return;
  }
  telemetry::Announce("owner token (shown once) is in " + path +
                      " (only this user may read it): copy it somewhere safe, then delete the file");
}

// A first start's owner token file still there at a later start: it should not stay.
void RemindOfOwnerTokenFile(const std::filesystem::path& data_dir) {
  std::error_code ec;
  if (std::filesystem::exists(OwnerTokenFile(data_dir), ec))
    telemetry::Announce("the owner token made at the first start is still in " + OwnerTokenFile(data_dir).string() +
                        ": delete it once you have copied it");
}

size_t IoThreads(const Config& config) {
  if (config.io_threads > 0) return config.io_threads;
  // One per core, up to the threads that keep their own upstream connections.
  return std::clamp<size_t>(std::thread::hardware_concurrency(), 1, http::HttpClient::kPoolThreads);
}

std::string Trimmed(std::string s) {
  auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && blank(s.back())) s.pop_back();
  size_t first = 0;
  while (first < s.size() && blank(s[first])) ++first;
  return s.substr(first);
}

Result<proxy::ProviderTable> ProviderTableFrom(const Config& config) {
  proxy::ProviderTable table;
  for (proxy::Provider p : proxy::kAllProviders) {
    auto base = http::ParseBaseUrl(config.base_urls[static_cast<size_t>(p)]);
    if (!base) return base.error();
    table.For(p).base = *base;
  }
  for (const auto& up : config.compatible_upstreams) {
    auto base = http::ParseBaseUrl(up.base_url);
    if (!base) return base.error();
    table.endpoints.push_back(
        proxy::ProviderEndpoint{up.name, proxy::Provider::kOpenAI, *base, up.api_key.empty(), true, up.extra_members});
  }
  return table;
}

// A plain-http upstream off this host sends the provider key and every prompt over the network
// unencrypted. Allowed (a provider on a private network, a local model server), but said at start.
void WarnOfPlainUpstreams(const proxy::ProviderTable& table) {
  for (const auto& endpoint : table.endpoints) {
    if (endpoint.base.tls) continue;
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(endpoint.base.host, ec);
    if ((!ec && address.is_loopback()) || endpoint.base.host == "localhost") continue;
    spdlog::warn("provider {} is reached over plain http at {}: its key and every prompt cross the network "
                 "unencrypted (use https, or a loopback address)",
                 endpoint.name, endpoint.base.Key());
  }
}

// The environment's provider keys (the operator's), by provider name.
std::map<std::string, std::string> EnvironmentKeys(const Config& config) {
  std::map<std::string, std::string> keys;
  auto env = ProcessEnvironment();
  for (proxy::Provider p : proxy::kAllProviders) {
    for (const char* name : proxy::KeyEnvironmentVariables(p)) {
      std::string key = Trimmed(env(name).value_or(""));  // as the reference: blank does not count
      if (key.empty()) continue;
      keys[std::string(proxy::ProviderName(p))] = std::move(key);
      break;
    }
  }
  for (const auto& up : config.compatible_upstreams)
    if (!up.api_key.empty()) keys[up.name] = up.api_key;
  return keys;
}

vault::Sharing SharingFrom(const Config& config) {
  vault::Sharing sharing;
  for (const auto& name : config.share_environment_keys_with) {
    if (name == "*") sharing.everyone = true;
    sharing.usernames.insert(name);
  }
  return sharing;
}

// Reads every sealed key and owner into the vault. Runs on the store thread (or before serving).
Status LoadVault(store::Store& store, vault::Vault& vault) {
  auto keys = store.Keys().ListKeys(std::nullopt);
  if (!keys) return keys.error();
  auto owners = store.Identity().ListOwners();
  if (!owners) return owners.error();
  vault.Load(*keys, *owners);
  return {};
}

std::string UrlOf(const boost::asio::ip::tcp::endpoint& ep, bool tls = false) {
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) host = "[" + host + "]";
  return (tls ? "https://" : "http://") + host + ":" + std::to_string(ep.port());
}

crypto::RotationTimes RotationTimesFor(const Config& config) {
  // A replaced key verifies as long as the longest token it signed can live, plus the leeway.
  return crypto::RotationTimes{config.signing_publish_seconds, config.token_ttl_seconds + 60};
}

// Keeps the token service's ring in step with the store's: reloaded when the change feed says the
// ring changed (a rotation on any node or by the CLI), and every 2 s, when a published key's time
// to sign comes. Runs on the store thread only.
class SigningRing {
 public:
  // `opened`: the ring as the broker opened it, which `tokens` holds. `stop`: called once when every
  // key this broker holds was dropped from the store's ring and it cannot open the keys there (see
  // ForgetDroppedKeys).
  SigningRing(store::Store& store, const vault::MasterKey& master, domain::TokenService& tokens,
              crypto::RotationTimes times, const vault::OpenedRing& opened, std::function<void()> stop)
      : store_(store),
        master_(master),
        tokens_(tokens),
        times_(times),
        held_records_(opened.records),
        held_keys_(opened.keys),
        stop_(std::move(stop)) {}

  void Reload() {
    auto records = store_.SigningKeys().ListSigningKeys();
    auto keys = records ? HeldKeys(*records) : Result<std::vector<crypto::SigningKey>>(records.error());
    if (!keys || keys->empty()) {
      if (records) ForgetDroppedKeys(*records);
      std::string why = keys ? "the ring is empty" : keys.error().message;
      // After `vault rotate-master` the ring is sealed under a key this broker does not hold yet:
      // expected until it restarts with that key, and it signs with the ring it holds meanwhile.
      if (why != last_error_)
        spdlog::warn(
            "signing keys not reloaded (signing on with those held): {}; after vault rotate-master, "
            "restart this broker with the new master key",
            why);
      last_error_ = std::move(why);
      return;
    }
    last_error_.clear();
    auto ring = std::make_shared<const crypto::SigningKeyRing>(
        crypto::SigningKeyRing::FromKeys(crypto::SigningKeyRing::Choose(std::move(*keys), SystemClock()(), times_)));
    auto current = tokens_.Keys();
    if (ring->Jwks() == current->Jwks() && ring->Current().kid == current->Current().kid) return;
    spdlog::info("signing keys changed: {} published, {} signs", ring->Jwks().at("keys").as_array().size(),
                 ring->Current().kid);
    tokens_.SetKeys(std::move(ring));
  }

 private:
  // The stored keys, unsealed only when their rows changed since the last reload (or since the
  // broker opened them): unsealing and decoding every key each time cost about five million
  // instructions.
  Result<std::vector<crypto::SigningKey>> HeldKeys(const std::vector<store::SigningKeyRecord>& records) {
    if (records != held_records_) {
      auto keys = vault::UnsealSigningKeys(master_, records);
      if (!keys) return keys.error();
      held_keys_ = std::move(*keys);
      held_records_ = records;
    }
    return held_keys_;
  }

  // The ring could not be read whole (after `vault rotate-master`, a key added since is sealed
  // under a master key this broker does not hold): it signs on with the keys it holds, but not
  // with one the store no longer has, which `keys rotate-signing --drop-older-keys` dropped as
  // leaked. Those stop verifying here at once too; when none is left, the broker stops rather
  // than sign or accept a token of a dropped key, and says why.
  void ForgetDroppedKeys(const std::vector<store::SigningKeyRecord>& stored) {
    const auto& held = tokens_.Keys()->All();
    std::vector<crypto::SigningKey> kept;
    for (const auto& key : held)
      if (std::any_of(stored.begin(), stored.end(), [&](const auto& r) { return r.kid == key.kid; }))
        kept.push_back(key);
    if (kept.size() == held.size() || stopping_) return;
    if (kept.empty()) {
      spdlog::error(
          "every signing key this broker holds was dropped from the ring (keys rotate-signing --drop-older-keys), "
          "and it cannot open the new one: it runs on the master key from before vault rotate-master. Stopping, so "
          "that no token of a dropped key is signed or accepted; restart it with the new master key");
      stopping_ = true;
      stop_();
      return;
    }
    spdlog::warn("signing keys dropped from the ring no longer verify here: {} of {} left", kept.size(), held.size());
    tokens_.SetKeys(std::make_shared<const crypto::SigningKeyRing>(
        crypto::SigningKeyRing::FromKeys(crypto::SigningKeyRing::Choose(std::move(kept), SystemClock()(), times_))));
  }

  store::Store& store_;
  const vault::MasterKey& master_;
  domain::TokenService& tokens_;
  crypto::RotationTimes times_;
  std::string last_error_;
  std::vector<store::SigningKeyRecord> held_records_;
  std::vector<crypto::SigningKey> held_keys_;  // unsealed from held_records_
  std::function<void()> stop_;
  bool stopping_ = false;
};

boost::asio::awaitable<void> KeepSigningKeys(SigningRing& ring, http::BlockingPool& store_pool) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(2));
    co_await timer.async_wait(boost::asio::use_awaitable);
    auto reload = [&ring]() { ring.Reload(); };
    co_await http::RunBlocking(store_pool, std::move(reload));
  }
}

// Says what became of the key files an older version kept in the data directory.
void AnnounceKeyFiles(const Config& config, const vault::OpenedRing& ring) {
  std::string dir = config.data_dir.string();
  if (ring.imported > 0) {
    telemetry::Announce("imported " + std::to_string(ring.imported) + " signing key(s) from " + dir +
                        " into the database, sealed under the master key; the key files are no longer read: delete "
                        "them once every broker runs this version");
    return;
  }
  if (!crypto::SigningKeyRing::HasKeyFiles(config.data_dir)) return;
  auto files = crypto::SigningKeyRing::ReadKeyFiles(config.data_dir);
  bool all_in_ring = files && std::all_of(files->begin(), files->end(), [&ring](const crypto::SigningKey& f) {
    return std::any_of(ring.keys.begin(), ring.keys.end(), [&f](const auto& k) { return k.kid == f.kid; });
  });
  telemetry::Announce(
      "note: the signing key files in " + dir + " are no longer read (the ring lives in the database)" +
      (all_in_ring ? "; delete them"
                   : "; they hold keys the database's ring does not (another broker's were imported first), so "
                     "tokens they signed are refused"));
}

Result<metering::PriceTable> PricesFrom(const Config& config) {
  auto prices = metering::DefaultPrices();
  if (!prices) return prices.error();
  if (!config.price_overrides_toml.empty())
    if (auto ok = metering::AddPrices(config.price_overrides_toml, "prices", config.price_overrides_source, *prices);
        !ok)
      return ok.error();
  return prices;
}

// POSTs each budget alert as JSON to the owner's webhook; a failure is logged, never retried.
boost::asio::awaitable<void> PostAlert(http::HttpClient& client, http::Origin origin, store::EventRecord event) {
  boost::system::error_code ec;
  boost::json::value detail = boost::json::parse(event.detail, ec);
  boost::json::object body{{"type", event.kind},
                           {"grantId", event.grant_id},
                           {"at", FormatIso8601(event.at)},
                           {"detail", std::move(detail)}};
  http::CallHead call(http::bhttp::verb::post, origin.path_prefix.empty() ? "/" : origin.path_prefix);
  call.Add("Content-Type", "application/json");
  std::string text = boost::json::serialize(body);  // named: g++ 12 and temporaries in co_await
  auto answer = co_await client.Send(origin, std::move(call), std::move(text));
  if (!answer)
    spdlog::warn("alert webhook failed: {}", answer.error().message);
  else if (answer->result_int() / 100 != 2)
    spdlog::warn("alert webhook answered {}", answer->result_int());
}

std::function<void(const store::EventRecord&)> WebhookSink(const Config& config, http::HttpClient& client,
                                                           http::IoPool& io) {
  if (config.alert_webhook_url.empty()) return {};
  http::Origin origin = http::ParseBaseUrl(config.alert_webhook_url).value();  // checked by LoadConfig
  return [&client, &io, origin](const store::EventRecord& event) {
    boost::asio::co_spawn(io.First(), PostAlert(client, origin, event), boost::asio::detached);
  };
}

// Picks up provider keys that another process (the CLI, another broker) added, replaced or
// removed: at once when the change feed brings a "keys" change, and by the keys' version every 2 s.
// Runs on the store thread only.
class VaultReloader {
 public:
  VaultReloader(store::Store& store, vault::Vault& vault) : store_(store), vault_(vault) {}

  void ReloadIfChanged() {
    auto version = store_.Keys().Version();
    if (!version || *version == seen_version_) return;
    auto master = store_.Keys().MasterKeyId();
    if (master && *master && **master != vault_.Master().Id() && !warned_rotation_) {
      spdlog::warn("the vault's master key was rotated: this broker serves with the keys it holds and applies "
                   "removals, but cannot open keys added since; restart it with the new master key");
      warned_rotation_ = true;
    }
    if (auto loaded = LoadVault(store_, vault_); !loaded) {
      spdlog::error("provider keys not reloaded: {}", loaded.error().message);
      return;
    }
    seen_version_ = *version;
  }

 private:
  store::Store& store_;
  vault::Vault& vault_;
  int64_t seen_version_ = -1;
  bool warned_rotation_ = false;
};

// Writes when keys were last used, and reloads the vault if a change was missed. Runs its store
// work on the store thread.
boost::asio::awaitable<void> KeepVault(store::Store& store, http::BlockingPool& store_pool, vault::Vault& vault,
                                       VaultReloader& reloader) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(2));
    co_await timer.async_wait(boost::asio::use_awaitable);
    auto sync = [&]() {
      for (const auto& [id, at] : vault.TakeUsed())
        if (auto ok = store.Keys().MarkKeysUsed({id}, at); !ok) spdlog::warn("key use not recorded: {}", ok.error().message);
      reloader.ReloadIfChanged();
    };
    co_await http::RunBlocking(store_pool, std::move(sync));
  }
}

constexpr std::chrono::seconds kUpkeepInterval{5};
// A host clock this far off the database's is warned of once.
constexpr int64_t kClockWarningSeconds = 5;

// The file in a data directory that says which kind of database the broker on it last ran on, so
// that a command given no configuration does not work on a SQLite database of its own where the
// broker's data is in PostgreSQL (it would make one, and say "done").
constexpr const char* kDatabaseKindFile = "database";
constexpr std::string_view kPostgresKind = "postgresql";

std::string DatabaseKindOf(const std::filesystem::path& dir) {
  std::ifstream in(dir / kDatabaseKindFile);
  std::string kind;
  std::getline(in, kind);
  return kind;
}

void NoteDatabaseKind(const std::filesystem::path& dir, store::Backend backend) {
  std::string path = (dir / kDatabaseKindFile).string();
  std::string kind = std::string(backend == store::Backend::kPostgres ? kPostgresKind : "sqlite") + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  bool written = fd >= 0 && ::write(fd, kind.data(), kind.size()) == static_cast<ssize_t>(kind.size());
  if (fd >= 0) ::close(fd);
  if (!written) spdlog::warn("could not note the kind of database in {}", path);
}

// A data directory whose broker keeps its data in PostgreSQL, given no database_url: `who` would
// make a SQLite database of its own there (and a serving broker would note the directory SQLite's).
Status RefuseStraySqlite(const Config& config, const std::string& who) {
  if (!config.database_url.empty() || DatabaseKindOf(config.data_dir) != kPostgresKind) return {};
  return MakeError(Errc::kBadRequest, "the broker on " + config.data_dir.string() +
                                          " keeps its data in PostgreSQL (its file 'database' says so), and " + who +
                                          " would use a SQLite database of its own there: give it the broker's "
                                          "configuration (--config FILE, or AIPASSPORT_DATABASE_URL; "
                                          "sqlite:///path/aipassport.db where it has moved back to SQLite)");
}

// This broker's name among the brokers on its database. A broker restarted on the same data
// directory takes the name of the run before it, so that run (killed, say) is not counted as a
// live peer for a node timeout; the file is locked while the broker runs, so a second broker on
// the same directory takes a fresh name instead. The lock goes with the process, however it ends.
// The name is kept with where it was made (the host's boot and the file itself): a copy of the
// directory (a machine image, a backup restored beside it) or a reboot makes a fresh one, for a
// copy's lock is another file, and two brokers of one name would each take themselves for the
// other and admit every per-minute limit whole.
struct NodeId {
  std::string id;
  bool reused = false;
};

// Where a node id file is: this boot of this host, and the file's device and inode.
std::string NodeIdStamp(int fd) {
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::string boot_id;
  std::getline(boot, boot_id);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "";
  return boot_id + " " + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

NodeId ClaimNodeId(const std::filesystem::path& data_dir) {
  std::string path = (data_dir / "node-id").string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) ::close(fd);
    return {RandomUuid(), false};
  }
  char buffer[256] = {};
  ssize_t n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
  std::string kept(buffer, n > 0 ? static_cast<size_t>(n) : 0);
  std::string stamp = NodeIdStamp(fd);
  size_t newline = kept.find('\n');
  std::string id = kept.substr(0, newline);
  // A UUID written by an earlier run here, and not a copy's.
  bool reused = id.size() == 36 && newline != std::string::npos && !stamp.empty() && kept.substr(newline + 1) == stamp;
  if (!reused) {
    id = RandomUuid();
    std::string text = id + "\n" + stamp;
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
      spdlog::warn("the node id could not be kept in {}", path);
  }
  return {id, reused};  // fd stays open (and locked) for the life of the process
}
constexpr std::chrono::seconds kLeaseIdle{10};

// A broker that stops sending heartbeats for `timeout` is gone: its leases count as lost, and the
// others share the per-minute limits without it. Each sends one every sixth of it.
struct Liveness {
  std::chrono::seconds timeout;
  std::chrono::milliseconds heartbeat;
};

// Whether a provider or declared server is reached over TLS: then the system's trust anchors are
// read at start, not on the first call (an app's client metadata document may still need them later).
bool AnyOverTls(const proxy::ProviderTable& table) {
  return std::any_of(table.endpoints.begin(), table.endpoints.end(),
                     [](const proxy::ProviderEndpoint& e) { return e.base.tls; });
}

Liveness LivenessFrom(const Config& config) {
  std::chrono::seconds timeout{config.node_timeout_seconds};
  return {timeout, std::chrono::duration_cast<std::chrono::milliseconds>(timeout) / 6};
}

// Tells the meter how many brokers share the grants' per-minute limits and which of them this is.
void SharePerMinuteLimits(store::Store& store, metering::Meter& meter, UnixSeconds now, Liveness liveness) {
  auto live = store.Metering().LiveNodes(now - liveness.timeout.count());
  if (!live) return spdlog::error("brokers sharing the limits not read: {}", live.error().message);
  auto me = std::find(live->begin(), live->end(), meter.NodeId());
  if (me == live->end()) return;  // not seen yet: keep the last figures
  meter.SetPeers(static_cast<int64_t>(live->size()), me - live->begin());
}

// The time heartbeats are written and judged by: the database's clock, the one every broker on it
// reads alike. This broker's own clock, when off by more than a few seconds, is warned of (its
// tokens' and grants' times go by it).
Result<UnixSeconds> HeartbeatTime(store::Store& store) {
  auto now = store.Metering().DatabaseNow();
  if (!now) return now.error();
  static std::atomic<bool> warned = false;
  if (int64_t off = SystemClock()() - *now; std::abs(off) > kClockWarningSeconds && !warned.exchange(true))
    spdlog::warn("this host's clock is {} s {} the database's: set it right (NTP); tokens and grants are timed by it",
                 std::abs(off), off > 0 ? "ahead of" : "behind");
  return now;
}

// Keeps this broker's node alive in the store, retries usage and audit events a store failure kept back, hands back
// the leases of idle grants, and turns the leases of brokers gone silent into lost spend. Runs its
// store work on the store thread.
boost::asio::awaitable<void> KeepLeases(store::Store& store, http::BlockingPool& store_pool, metering::Meter& meter,
                                        metering::UsageRecorder& usage, record::AuditLog& audit,
                                        store::StoreWrites& writes, telemetry::BrokerMetrics* metrics,
                                        Liveness liveness) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(liveness.heartbeat);
    co_await timer.async_wait(boost::asio::use_awaitable);
    auto beat = [&store, &meter, &usage, &audit, &writes, metrics, liveness]() {
      usage.Flush();  // usage a store failure kept back
      audit.Flush();  // and audit events
      auto now = HeartbeatTime(store);
      Result<store::MeteringStore::Beat> beat =
          now ? store.Metering().Heartbeat(meter.NodeId(), *now, *now - liveness.timeout.count()) : now.error();
      writes.Note(store::StoreWrites::Writer::kHeartbeat, beat);  // a store that takes writes again takes calls again
      if (beat) SharePerMinuteLimits(store, meter, *now, liveness);
      if (!beat) spdlog::error("heartbeat not recorded: {}", beat.error().message);
      if (!beat && metrics) metrics->StoreError("heartbeat");
      if (beat && metrics) metrics->HeartbeatRecorded();
      if (beat && beat->deferred)
        spdlog::warn("the leases of a stopped broker are taken at a later heartbeat: {}", beat->deferred->message);
      if (beat && beat->lost > 0) spdlog::warn("{} leases of a stopped broker now count as spent", beat->lost);
      if (beat && beat->lost > 0 && metrics) metrics->LeasesLost(beat->lost);
      meter.ReturnIdleLeases(kLeaseIdle);
    };
    co_await http::RunBlocking(store_pool, std::move(beat));
  }
}

// Prunes old activity and notes grants that ended on their own, on the store thread.
boost::asio::awaitable<void> KeepRecord(api::RecordUpkeep& upkeep, http::BlockingPool& store_pool) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(kUpkeepInterval);
    co_await timer.async_wait(boost::asio::use_awaitable);
    auto keep = [&upkeep]() {
      upkeep.NoteGrantEnds(SystemNow());
      upkeep.PruneIfDue(SystemNowMillis());
    };
    co_await http::RunBlocking(store_pool, std::move(keep));
    // The activity a prune has begun goes a page a job, each behind the jobs queued meanwhile.
    auto page = [&upkeep]() { return upkeep.PruneActivityPage(SystemNowMillis()); };
    while (co_await http::RunWriteBehind(store_pool, page)) {
    }
  }
}

// How often the change feed is read: a change made on another broker applies here within this.
// On PostgreSQL a notification (FollowBell) has it read at once; this is the fallback.
constexpr std::chrono::milliseconds kFollowInterval{200};

// Cuts the change follower's wait short when PostgreSQL says another connection committed a change
// (store/postgres/change_listener.hpp). Ring from any thread; Wait on the follower's executor.
class FollowBell {
 public:
  explicit FollowBell(boost::asio::any_io_executor executor) : timer_(std::move(executor)) {}

  void Ring() {
    boost::asio::post(timer_.get_executor(), [this] {
      rung_ = true;
      timer_.cancel();
    });
  }

  // Returns after `interval`, or sooner once rung (also when it rang while nobody waited).
  boost::asio::awaitable<void> Wait(std::chrono::milliseconds interval) {
    if (!std::exchange(rung_, false)) {
      timer_.expires_after(interval);
      boost::system::error_code ignored;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    }
    rung_ = false;
  }

 private:
  boost::asio::steady_timer timer_;
  bool rung_ = false;  // only touched on the timer's executor
};

// Applies what other brokers changed in the shared database, on the store thread.
boost::asio::awaitable<void> FollowChanges(cluster::ChangeFollower& follower, FollowBell& bell,
                                           http::BlockingPool& store_pool) {
  for (;;) {
    co_await bell.Wait(kFollowInterval);
    auto poll = [&follower]() {
      if (auto applied = follower.Poll(); !applied) spdlog::error("changes not followed: {}", applied.error().message);
    };
    co_await http::RunBlocking(store_pool, std::move(poll));
  }
}

// Writes the waiting activity rows every ActivityRecorder::kFlushInterval, on the store thread, as
// write-behind.
boost::asio::awaitable<void> FlushActivity(record::ActivityRecorder& activity, http::BlockingPool& store_pool) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(record::ActivityRecorder::kFlushInterval);
    co_await timer.async_wait(boost::asio::use_awaitable);
    if (!activity.HasWaiting()) continue;
    auto flush = [&activity]() { activity.Flush(); };
    co_await http::RunWriteBehind(store_pool, std::move(flush));
  }
}

}  // namespace

int RotateSigningKey(const Config& config, bool drop_older) {
  auto store = OpenConfiguredStore(config);
  if (!store) return Fail(store.error());
  auto master = OpenMasterKey(config, **store);
  if (!master) return Fail(master.error());
  // A ring not made yet (no broker has started on this database) is made first, from the data
  // directory's key files if it has some, so the keys that signed live tokens stay in it.
  auto ring = vault::OpenSigningKeys(*master, (**store).SigningKeys(), config.data_dir);
  if (!ring) return Fail(ring.error());
  auto key = vault::AddSigningKey(*master, (**store).SigningKeys(), SystemClock()(),
                                  drop_older ? store::OlderKeys::kDrop : store::OlderKeys::kKeep);
  if (!key) return Fail(key.error());
  boost::json::object detail{{"kid", key->kid}};
  if (drop_older) {
    boost::json::array dropped;
    for (const auto& older : ring->keys) dropped.emplace_back(older.kid);
    detail["dropped"] = std::move(dropped);
  }
  auto audit_key = vault::AuditChainKey(*master, (**store).Keys());
  record::AuditEvent event{std::string(api::audit_kind::kSigningKeyAdded), "cli", "", "",
                           boost::json::serialize(detail)};
  if (!audit_key || !RecordAuditEvent(config, *audit_key, **store, event))
    std::fprintf(stderr, "aipassport: warning: the key is added, but the audit trail did not take it\n");
  if (drop_older)
    std::printf(
        "new signing key %s signs now, and the %zu older key(s) are dropped: every running broker on this database\n"
        "refuses the tokens they signed within a second (apps ask for new ones: OAuth apps refresh, reference apps\n"
        "POST /tokens); a broker still on the master key from before a vault rotate-master cannot open the new key,\n"
        "and stops: restart it with the new master key\n",
        key->kid.c_str(), ring->keys.size());
  else
    std::printf(
        "new signing key %s is published now and signs in %lld s (every running broker on this database picks it "
        "up);\nthe key it replaces verifies its tokens until they have expired\n",
        key->kid.c_str(), static_cast<long long>(config.signing_publish_seconds));
  return 0;
}

namespace {

// Serves GET /metrics (and nothing else) in the Prometheus text format.
http::Handler MetricsHandler(const telemetry::BrokerMetrics& metrics) {
  return [&metrics](http::Request& req, http::Exchange&) -> boost::asio::awaitable<http::Response> {
    if (http::PathOf(req.target()) != "/metrics")
      co_return http::ErrorResponse(Errc::kNotFound, "Only /metrics is served here");
    if (req.method() != http::Verb::get && req.method() != http::Verb::head)
      co_return http::ErrorResponse(Errc::kMethodNotAllowed, "Use GET");
    http::Response res(http::StatusCode::ok, req.version());
    res.set(http::bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = metrics.Render();
    res.prepare_payload();
    co_return res;
  };
}

// Each connection is a descriptor: the soft limit (often 1,024) goes up to the hard one, which the
// operator sets (the package's unit: LimitNOFILE).
void RaiseOpenFileLimit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur >= files.rlim_max) return;
  files.rlim_cur = files.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : files.rlim_max;  // the kernel's nr_open
  if (::setrlimit(RLIMIT_NOFILE, &files) != 0)
    spdlog::warn("the open-file limit could not be raised to its hard limit");
}

}  // namespace

int RunBroker(const Config& config) {
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  telemetry::SetLogFormat(config.log_json ? telemetry::LogFormat::kJson : telemetry::LogFormat::kText);
  auto env_token = ProcessEnvironment()("AIPASSPORT_ADMIN_TOKEN");  // checked before anything is made
  if (env_token)
    if (auto ok = CheckAdminTokenStrength(*env_token); !ok) return Fail(ok.error());
  if (auto keys = CheckUpstreamKeys(config); !keys) return Fail(keys.error());
  if (auto ok = PrepareDataDir(config.data_dir); !ok) return Fail(ok.error());
  RaiseOpenFileLimit();
  auto target = store::ParseDatabaseUrl(config.database_url, config.data_dir / "aipassport.db");
  if (!target) return Fail(target.error());
  if (auto stray = RefuseStraySqlite(config, "this broker"); !stray) return Fail(stray.error());
  auto store = store::OpenStore(*target);
  if (!store) return Fail(store.error());
  NoteDatabaseKind(config.data_dir, target->backend);
  bool new_master_key = false;
  auto master_key = OpenMasterKey(config, **store, &new_master_key);
  if (!master_key) return Fail(master_key.error());
  auto operator_account = EnsureOperatorAccount(**store, SystemClock()());
  if (!operator_account) return Fail(operator_account.error());
  vault::Vault vault(std::move(*master_key), operator_account->id, SharingFrom(config));
  vault.SetEnvironmentKeys(EnvironmentKeys(config));
  if (auto loaded = LoadVault(**store, vault); !loaded) return Fail(loaded.error());

  std::string owner_hash = env_token ? crypto::Sha256Hex(*env_token) : std::string();
  if (!config.password_file_open_to_all.empty())
    spdlog::warn("{} holds the database password, and every user of this host can read it: chmod o-r it (the "
                 "package makes it 0640, root:aipassport), or put AIPASSPORT_DATABASE_URL in the service's "
                 "environment file instead",
                 config.password_file_open_to_all);
  auto table = ProviderTableFrom(config);
  if (!table) return Fail(table.error());
  WarnOfPlainUpstreams(*table);
  auto listen = ParseListen(config.listen);
  if (!listen) return Fail(listen.error());
  auto prices = PricesFrom(config);
  if (!prices) return Fail(prices.error());
  auto node = ClaimNodeId(config.data_dir);
  std::string node_id = node.id;
  auto started = HeartbeatTime(**store);
  if (!started) return Fail(started.error());
  Liveness liveness = LivenessFrom(config);
  // What an earlier run under this id (killed, so it never gave its leases back) still holds is
  // counted as spent now, not a node timeout from now, and it is not counted as a peer.
  if (node.reused)
    if (auto retired = (*store)->Metering().RetireNode(node_id, *started); !retired) return Fail(retired.error());
  if (auto beat = (*store)->Metering().Heartbeat(node_id, *started, *started - liveness.timeout.count()); !beat)
    return Fail(beat.error());
  // A start that fails from here on retires its node as it ends (after the store thread, joined
  // first): its peers would count it for a node timeout, each with a smaller share of every
  // grant's limits meanwhile. A broker that serves retires it as it stops.
  struct RetireUnlessServing {
    store::Store& store;
    const std::string& node_id;
    bool serving = false;
    ~RetireUnlessServing() {
      if (serving) return;
      if (auto retired = store.Metering().RetireNode(node_id, SystemClock()()); !retired)
        spdlog::warn("this node was not retired: its peers count it for a node timeout: {}", retired.error().message);
    }
  } retire_unless_serving{**store, node_id};

  domain::GrantCache grants;
  cluster::ChangeFollower follower(**store, grants);
  if (auto started_feed = follower.Start(); !started_feed) return Fail(started_feed.error());
  // After the feed's start, so a rotation made meanwhile is read again rather than missed.
  auto opened_ring = vault::OpenSigningKeys(vault.Master(), (*store)->SigningKeys(), config.data_dir);
  if (!opened_ring) return Fail("signing keys: " + opened_ring.error().message);
  auto shared_keys = std::make_shared<const crypto::SigningKeyRing>(crypto::SigningKeyRing::FromKeys(
      crypto::SigningKeyRing::Choose(opened_ring->keys, SystemClock()(), RotationTimesFor(config))));
  auto approved = (*store)->Grants().ListApprovedGrants();
  if (!approved) return Fail(approved.error());
  for (auto& record : *approved)
    if (auto grant = domain::GrantFromRecord(std::move(record))) grants.Put(std::move(*grant));

  size_t threads = IoThreads(config);
  http::IoPool io(threads);
  http::ShutdownSignals shutdown(io);
  // The store thread runs at the I/O threads' priority: its work grows with the calls (their usage,
  // activity and lease top-ups). 10 nice levels below a busy I/O thread on one core it got under 4%
  // of the core and fell 100-500 ms behind, and every connection waited for the lease top-ups
  // queued behind it (bench/run.sh, pinned, 256 connections: p99 55-104 ms against 18-27 now).
  http::BlockingPool store_pool(1);
  http::NameThreads(store_pool, 1, "ap-store");
  http::ClientOptions client_options;
  client_options.request_timeout = std::chrono::seconds(config.upstream_timeout_seconds);
  client_options.ca_file = config.upstream_ca_file;
  client_options.system_trust_at_start = AnyOverTls(*table);
  std::unique_ptr<http::HttpClient> client;
  try {
    client = std::make_unique<http::HttpClient>(client_options);
  } catch (const std::exception& e) {
    return Fail(std::string("cannot set up TLS for upstream calls: ") + e.what());
  }
  proxy::Upstream upstream(*client, std::move(*table));
  vault.OnChange([&upstream](const std::vector<std::string>& secrets) {
    if (size_t too_short = upstream.Scrubber().Update(secrets))
      spdlog::warn("{} provider key(s) with a secret under {} characters are not scrubbed from answers", too_short,
                   proxy::KeySet::kMinRun);
  });
  domain::TokenSettings token_settings;
  token_settings.audience = config.audience;
  token_settings.ttl_seconds = config.token_ttl_seconds;
  domain::TokenService tokens(shared_keys, token_settings, SystemClock());
  std::atomic<bool> ring_dropped{false};  // the broker stops: see SigningRing::ForgetDroppedKeys
  SigningRing signing_ring(**store, vault.Master(), tokens, RotationTimesFor(config), *opened_ring, [&ring_dropped] {
    ring_dropped = true;
    std::raise(SIGTERM);  // the drain ShutdownSignals runs on a signal
  });
  follower.OnChange("signing_keys", [&signing_ring] { signing_ring.Reload(); });
  VaultReloader vault_reloader(**store, vault);
  follower.OnChange("keys", [&vault_reloader] { vault_reloader.ReloadIfChanged(); });
  domain::DpopVerifier dpop(SystemClock());
  // One nonce key for every broker on the database: a nonce from one is good on all of them.
  auto nonce_key = (*store)->Flows().SharedNonceKey(RandomToken(32));
  if (!nonce_key) return Fail(nonce_key.error());
  dpop.ShareNonceKey(std::move(*nonce_key));
  store::StoreWrites store_writes;
  metering::UsageRecorder usage(
      **store, store_pool, io.First().get_executor(),
      {node_id, config.alert_percents, WebhookSink(config, *client, io), SystemClock(), &store_writes});
  std::unique_ptr<telemetry::BrokerMetrics> metrics;
  if (!config.metrics_listen.empty())
    metrics = std::make_unique<telemetry::BrokerMetrics>(telemetry::MetricsOptions{config.metrics_per_app_labels});
  metering::MeterOptions meter_options;
  meter_options.node_id = node_id;
  meter_options.max_concurrent = config.max_concurrent_per_grant;
  if (metrics) meter_options.on_lease_wait = [m = metrics.get()](int64_t micros) { m->LeaseWaited(micros); };
  metering::Meter meter(**store, store_pool, std::move(meter_options));
  // A grant changed on another broker (or by the CLI): what this one leased under its old limits goes back.
  follower.OnGrantChange([&meter](std::string_view id) { meter.ReturnLeasesOf(id); });
  SharePerMinuteLimits(**store, meter, *started, liveness);
  auto audit_key = vault::AuditChainKey(vault.Master(), (*store)->Keys());
  if (!audit_key) return Fail(audit_key.error());
  record::AuditLog audit(**store, store_pool, std::move(*audit_key), AuditMarkPath(config));
  record::ActivityRecorder activity(**store, store_pool, &store_writes);
  api::RecordUpkeep upkeep(**store, audit, config.activity_retention_days);
  if (auto pruned = upkeep.PruneActivity(SystemNowMillis()); !pruned) return Fail(pruned.error());
  if (auto ended = upkeep.PruneEndedTokens(SystemNow()); !ended) return Fail(ended.error());
  if (auto lapsed = upkeep.PruneLapsedRequests(SystemNow()); !lapsed) return Fail(lapsed.error());
  http::BlockingPool work_pool(1);
  http::NameThreads(work_pool, 1, "ap-work");
  http::RunBelowIoThreads(work_pool, 1);
  api::KeyLeakGuard leaks;
  api::Throttles throttles(config.grant_requests_per_address_per_minute, config.max_waiting_grant_requests);
  // Behind a TLS proxy (public_url https) the browser is on HTTPS too: cookies get Secure and the
  // __Host- prefix, and forms come from the public URL's origin.
  bool https = !config.tls_cert_file.empty() || http::OriginOf(config.public_url).starts_with("https://");
  api::BrokerContext ctx{**store,
                         store_pool,
                         work_pool,
                         grants,
                         tokens,
                         dpop,
                         upstream,
                         usage,
                         meter,
                         *prices,
                         throttles,
                         vault,
                         leaks,
                         https,
                         config.dynamic_registration,
                         config.refuse_unpriced_models,
                         SystemClock(),
                         owner_hash,
                         "",
                         activity,
                         audit,
                         metrics.get()};
  ctx.tls = !config.tls_cert_file.empty();

  oauth::ClientMetadataOptions metadata_options;
  metadata_options.mode = config.client_metadata_mode == "off"          ? oauth::ClientMetadataMode::kOff
                          : config.client_metadata_mode == "allow_list" ? oauth::ClientMetadataMode::kAllowList
                                                                        : oauth::ClientMetadataMode::kAny;
  metadata_options.allowed_hosts = config.client_metadata_hosts;
  metadata_options.allow_private_addresses = config.client_metadata_allow_private;
  metadata_options.ca_file = config.upstream_ca_file;
  std::unique_ptr<oauth::ClientMetadataResolver> client_metadata;
  try {
    client_metadata = std::make_unique<oauth::ClientMetadataResolver>(metadata_options, SystemClock());
  } catch (const std::exception& e) {
    return Fail(std::string("cannot set up TLS for client metadata documents: ") + e.what());
  }
  ctx.client_metadata = client_metadata.get();
  ctx.follower = &follower;
  ctx.follower_max_age = liveness.timeout;
  ctx.store_writes = &store_writes;
  ctx.resources = api::ProtectedResources(upstream.Table());
  store::StorePool readers(*target);
  std::unique_ptr<http::BlockingPool> read_pool;
  if (config.database_pool_size > 1) {
    auto readers_count = static_cast<size_t>(config.database_pool_size) - 1;
    read_pool = std::make_unique<http::BlockingPool>(readers_count);
    http::NameThreads(*read_pool, readers_count, "ap-read");
    http::RunBelowIoThreads(*read_pool, readers_count);
    ctx.readers = &readers;
    ctx.read_pool = read_pool.get();
  }

  http::Router router;
  api::AddReferenceRoutes(router, ctx);
  api::AddNativeRoutes(router, ctx);
  api::AddKeyRoutes(router, ctx);
  api::AddRecordRoutes(router, ctx);
  ui::AddOwnerPages(router, ctx);
  ui::AddConsentPages(router, ctx);
  ui::AddAppPages(router, ctx);
  ui::AddDevicePages(router, ctx);
  ui::AddConsolePages(router, ctx);  // after the API routes: it wraps their GET handlers
  oauth::AddOAuthRoutes(router, ctx);
  http::ServerOptions server_options;
  server_options.host = listen->host;
  server_options.port = listen->port;
  server_options.body_limit = config.body_limit_bytes;
  server_options.read_timeout = std::chrono::seconds(config.client_timeout_seconds);
  server_options.tls_cert_file = config.tls_cert_file;
  server_options.tls_key_file = config.tls_key_file;
  http::Server server(io, server_options, api::MakeDispatcher(router), api::MakeBodyPolicy(router));
  if (auto ok = server.Listen(); !ok) return Fail(ok.error());
  // Known once it listens, and set before it serves: the tokens' issuer and audiences come from them.
  std::string listening = UrlOf(server.LocalEndpoint(), server.ServesTls());
  ctx.public_url = config.public_url.empty() ? listening : config.public_url;
  ctx.issuer = config.issuer.empty() ? ctx.public_url : config.issuer;
  std::vector<std::string> resource_urls;
  for (const auto& resource : ctx.resources) resource_urls.push_back(api::ResourceUrl(ctx.public_url, resource));
  tokens.SetIdentity(ctx.issuer, std::move(resource_urls));
  std::unique_ptr<http::Server> metrics_server;
  if (metrics) {
    metrics->AddGauge("aipassport_connections_open", "HTTP connections open to the broker now.",
                      [&server] { return static_cast<double>(server.OpenConnections()); });
    metrics->AddGauge("aipassport_requests_in_flight", "Requests being handled now.",
                      [&server] { return static_cast<double>(server.InFlight()); });
    metrics->AddGauge("aipassport_store_queue_depth", "Store tasks waiting for or running on the store thread.",
                      [&store_pool] { return static_cast<double>(store_pool.Waiting()); });
    metrics->AddGauge("aipassport_leases_held_usd",
                      "Budget this broker holds as leases from the store (for calls in flight and to come), in US dollars.",
                      [&meter] { return static_cast<double>(meter.Held().micros) * 1e-6; });
    metrics->AddGauge("aipassport_leases_held_requests",
                      "Requests of grants' caps this broker holds as leases from the store.",
                      [&meter] { return static_cast<double>(meter.Held().requests); });
    auto metrics_listen = ParseListen(config.metrics_listen);
    if (!metrics_listen) return Fail(metrics_listen.error());
    http::ServerOptions metrics_options;
    metrics_options.host = metrics_listen->host;
    metrics_options.port = metrics_listen->port;
    metrics_options.server_name = "aipassport-metrics";
    metrics_server = std::make_unique<http::Server>(io, metrics_options, MetricsHandler(*metrics));
    if (auto ok = metrics_server->Listen(); !ok) return Fail("metrics listener: " + ok.error().message);
  }
  // Made only once the broker can serve, so a failed start never swallows a token nobody saw.
  std::optional<std::string> new_owner_token;
  if (!env_token) {
    auto ensured = EnsureOwnerToken(**store);
    if (!ensured) return Fail(ensured.error());
    new_owner_token = *ensured;
    if (new_owner_token) audit.Record(record::AuditEvent{"owner_token.reset", "broker", "", "", "{\"firstStart\":true}"});
  }
  server.Start();
  if (metrics_server) metrics_server->Start();
  auto watch = KeepSigningKeys(signing_ring, store_pool);
  boost::asio::co_spawn(io.First(), std::move(watch), [](std::exception_ptr e) {
    if (e) spdlog::error("the signing key watch stopped");
  });
  auto keys_sync = KeepVault(**store, store_pool, vault, vault_reloader);
  boost::asio::co_spawn(io.First(), std::move(keys_sync), [](std::exception_ptr e) {
    if (e) spdlog::error("the provider key sync stopped");
  });
  auto leases = KeepLeases(**store, store_pool, meter, usage, audit, store_writes, metrics.get(), liveness);
  boost::asio::co_spawn(io.First(), std::move(leases), [](std::exception_ptr e) {
    if (e) spdlog::error("the lease keeper stopped");
  });

  FollowBell bell(io.First().get_executor());
  std::unique_ptr<store::postgres::ChangeListener> listener;
  if (target->backend == store::Backend::kPostgres) {
    auto started_listener = store::postgres::ChangeListener::Start(target->location, [&bell] { bell.Ring(); });
    if (!started_listener) return Fail(started_listener.error());
    listener = std::move(*started_listener);
  }
  auto follow = FollowChanges(follower, bell, store_pool);
  boost::asio::co_spawn(io.First(), std::move(follow), [](std::exception_ptr e) {
    if (e) spdlog::error("the change follower stopped");
  });
  auto flush_activity = FlushActivity(activity, store_pool);
  boost::asio::co_spawn(io.First(), std::move(flush_activity), [](std::exception_ptr e) {
    if (e) spdlog::error("the activity writer stopped");
  });
  auto keep_record = KeepRecord(upkeep, store_pool);
  boost::asio::co_spawn(io.First(), std::move(keep_record), [](std::exception_ptr e) {
    if (e) spdlog::error("the record keeper stopped");
  });

  telemetry::Announce("aipassport broker listening on " + listening);
  if (ctx.public_url != listening) telemetry::Announce("apps reach it at " + ctx.public_url);
  std::string data_dir = std::filesystem::weakly_canonical(config.data_dir).string();
  telemetry::Announce("data directory: " + data_dir);
  AnnounceKeyFiles(config, *opened_ring);
  if (new_master_key) telemetry::AnnounceWarning(NewMasterKeyWarning(config));
  if (new_owner_token)
    ShowNewOwnerToken(*new_owner_token, config.data_dir);
  else if (owner_hash.empty())
    telemetry::Announce("owner token: set at first start; make a new one with: aipassport admin-token --reset --data-dir " +
                        config.data_dir.string());
  else
    telemetry::Announce("owner token: from AIPASSPORT_ADMIN_TOKEN");
  if (!new_owner_token) RemindOfOwnerTokenFile(config.data_dir);
  for (proxy::Provider p : proxy::kAllProviders)
    if (!vault.EnvironmentKey(vault.OperatorId(), proxy::ProviderName(p)))
      telemetry::Announce("note: no environment key for " + std::string(proxy::ProviderName(p)) + " (" +
                          proxy::KeyEnvironmentVariables(p)[0] + "); owners can add their own keys");
  for (const auto& up : config.compatible_upstreams)
    telemetry::Announce("serving OpenAI-compatible upstream '" + up.name + "' at /" + up.name + "/v1/ (" +
                        (up.api_key.empty() ? "no key" : "with its key") + ")");
  if (metrics_server)
    telemetry::Announce("metrics at " + UrlOf(metrics_server->LocalEndpoint()) + "/metrics");
  if (new_owner_token) {
    std::string master = config.master_key_base64 ? std::string("AIPASSPORT_MASTER_KEY (from the environment)")
                                                  : std::filesystem::weakly_canonical(config.master_key_file).string();
    telemetry::Announce("next steps:");
    telemetry::Announce("  1. create an owner account: aipassport user add NAME --data-dir " + data_dir);
    telemetry::Announce("  2. open " + ctx.public_url + "/ and sign in as that owner (or use the owner token above)");
    telemetry::Announce("  3. the vault's master key is " + master + ": back it up, the provider keys depend on it");
  }
  std::fflush(stdout);

  // Only on SQLite, the broker's own database: with PostgreSQL, other brokers would wait on the
  // rows a transaction starved at SCHED_IDLE holds.
  if (target->backend == store::Backend::kSqlite && !http::LetWriteBehindGiveWay(store_pool, server.InFlightCount()))
    spdlog::info(
        "the store thread writes usage, activity and audit rows at the I/O threads' priority: giving way to them "
        "needs CAP_SYS_NICE or an RLIMIT_NICE of 20");
  std::vector<http::Server*> servers{&server};
  if (metrics_server) servers.push_back(metrics_server.get());
  retire_unless_serving.serving = true;
  shutdown.Run(servers, std::chrono::seconds(10));
  // Calls have drained: write what they cost and hand back what no call holds. A call cut short by
  // the drain deadline keeps its reservation, which counts as lost.
  http::PostBlocking(store_pool, [&] {
    usage.Flush();
    activity.FlushAll();
    audit.Flush();
    meter.ReturnUnreservedLeases();
    if (auto retired = (*store)->Metering().RetireNode(node_id, SystemClock()()); !retired)
      spdlog::error("leases not returned: {}", retired.error().message);
  });
  store_pool.Join();
  spdlog::info("stopped");
  return ring_dropped ? 1 : 0;
}

int RunMockUpstream(const std::string& listen_text, const mock::MockOptions& options) {
  auto listen = ParseListen(listen_text);
  if (!listen) return Fail(listen.error());
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
  http::IoPool io(threads);
  http::ShutdownSignals shutdown(io);
  mock::MockUpstream mock(options);
  http::ServerOptions server_options;
  server_options.host = listen->host;
  server_options.port = listen->port;
  server_options.body_limit = 64 << 20;
  server_options.server_name = "mock-upstream";
  http::Server server(io, server_options, mock.Handler());
  if (auto ok = server.Listen(); !ok) return Fail(ok.error());
  server.Start();
  std::printf("mock-upstream listening on %s\n", UrlOf(server.LocalEndpoint()).c_str());
  std::fflush(stdout);
  shutdown.Run({&server}, std::chrono::seconds(2));
  return 0;
}

Status PrepareDataDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(Errc::kUnavailable, "cannot create data directory " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  return {};
}

Status CheckDataDir(const Config& config, DataUse use) {
  std::error_code ec;
  const auto& dir = config.data_dir;
  if (!std::filesystem::is_directory(dir, ec))
    return MakeError(Errc::kNotFound, "no data directory at " + dir.string() +
                                          " (commands other than serve do not create one; check --data-dir)");
  auto target = store::ParseDatabaseUrl(config.database_url, dir / "aipassport.db");
  if (!target) return target.error();
  if (auto stray = RefuseStraySqlite(config, "this command"); !stray) return stray;
  if (use == DataUse::kNeedsDatabase && target->backend == store::Backend::kSqlite &&
      !std::filesystem::exists(target->location, ec))
    return MakeError(Errc::kNotFound, "no broker data at " + target->location +
                                          " (start the broker there once, or check --data-dir and database_url)");
  return {};
}

Result<std::unique_ptr<store::Store>> OpenConfiguredStore(const Config& config) {
  auto target = store::ParseDatabaseUrl(config.database_url, config.data_dir / "aipassport.db");
  if (!target) return target.error();
  return store::OpenStore(*target);
}

int ResetAdminToken(const Config& config) {
  if (ProcessEnvironment()("AIPASSPORT_ADMIN_TOKEN"))
    return Misused(
        "AIPASSPORT_ADMIN_TOKEN is set: a broker started with it takes that token and no other, so a reset "
        "would not end it. Change the variable where it is set and restart the brokers; or unset it here to "
        "reset the token of brokers started without it");
  if (auto ok = PrepareDataDir(config.data_dir); !ok) return Fail(ok.error());
  auto store = OpenConfiguredStore(config);
  if (!store) return Fail(store.error());
  auto audit_key = AuditKey(config, **store);
  if (!audit_key) return Fail(audit_key.error());
  auto token = ResetOwnerToken(**store);
  if (!token) return Fail(token.error());
  // Shown as soon as it is stored: the old one no longer works, and this one exists nowhere else.
  std::printf("new owner token (shown once, keep it secret): %s\n", token->c_str());
  std::printf(
      "the previous owner token no longer works (on brokers started without AIPASSPORT_ADMIN_TOKEN, "
      "which take that token instead)\n");
  std::fflush(stdout);
  ::unlink(OwnerTokenFile(config.data_dir).c_str());  // the first start's token, if still there, is dead
  if (auto ok =
          RecordAuditEvent(config, *audit_key, **store, record::AuditEvent{"owner_token.reset", "cli", "", "", "{}"});
      !ok)
    return Fail("the owner token was reset, but the audit trail did not take it: " + ok.error().message);
  return 0;
}

}  // namespace ap::app
