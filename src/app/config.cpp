#include "app/config.hpp"

#include <toml++/toml.h>

#include <boost/asio/ip/address.hpp>
#include <sys/stat.h>

#include <charconv>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "http/client.hpp"
#include "http/url.hpp"
#include "metering/prices.hpp"
#include "proxy/providers.hpp"
#include "store/open_store.hpp"

namespace ap::app {
namespace {

Error Bad(std::string message) { return MakeError(Errc::kBadRequest, std::move(message)); }

// The longest a timeout or a token's life may be set to: a day and a year. Far beyond any use, and
// far below what a clock's arithmetic in nanoseconds or a token's expiry in seconds can hold.
constexpr int64_t kMostTimeoutSeconds = 86'400;
constexpr int64_t kMostLifetimeSeconds = 366 * 86'400;
// A century: "keep it for ever" without overflowing the retention's arithmetic in milliseconds.
constexpr int64_t kMaxRetentionDays = 36'500;

Result<int64_t> ParsePositive(std::string_view text, std::string_view what,
                              int64_t most = std::numeric_limits<int64_t>::max()) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || n <= 0 || n > most)
    return Bad(std::string(what) + " must be a positive whole number" +
               (most == std::numeric_limits<int64_t>::max() ? "" : " up to " + std::to_string(most)) + ", not '" +
               std::string(text) + "'");
  return n;
}

// One setting: where it is read from in the environment and in the file, and how it is stored.
using Apply = std::function<Status(Config&, std::string_view value, std::string_view source)>;
struct Setting {
  const char* env;
  const char* toml_path;  // dotted
  Apply apply;
};

template <class T>
Apply Text(T Config::*field) {
  return [field](Config& c, std::string_view v, std::string_view) -> Status {
    c.*field = T(std::string(v));
    return {};
  };
}

template <class T>
Apply Positive(T Config::*field, int64_t most = std::numeric_limits<int64_t>::max()) {
  return [field, most](Config& c, std::string_view v, std::string_view source) -> Status {
    auto n = ParsePositive(v, source, most);
    if (!n) return n.error();
    c.*field = static_cast<T>(*n);
    return {};
  };
}

Apply Flag(bool Config::*field) {
  return [field](Config& c, std::string_view v, std::string_view source) -> Status {
    if (v == "true" || v == "1")
      c.*field = true;
    else if (v == "false" || v == "0")
      c.*field = false;
    else
      return Bad(std::string(source) + " must be true or false");
    return {};
  };
}

Apply LogLevel() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
    if (std::find(std::begin(kLevels), std::end(kLevels), v) == std::end(kLevels))
      return Bad(std::string(source) + " must be one of trace, debug, info, warn, error, off");
    c.log_level = v;
    return {};
  };
}

Apply LogFormat() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    if (v != "text" && v != "json") return Bad(std::string(source) + " must be \"text\" or \"json\"");
    c.log_json = v == "json";
    return {};
  };
}

Apply MetricsListen() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    if (auto hp = ParseListen(v); !hp) return Bad(std::string(source) + ": " + hp.error().message);
    c.metrics_listen = v;
    return {};
  };
}

Apply BaseUrl(size_t provider) {
  return [provider](Config& c, std::string_view v, std::string_view source) -> Status {
    if (auto url = http::ParseBaseUrl(v); !url) return Bad(std::string(source) + ": " + url.error().message);
    c.base_urls[provider] = v;
    return {};
  };
}

Apply UnknownModels() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    if (v != "refuse" && v != "count_requests")
      return Bad(std::string(source) + " must be \"refuse\" or \"count_requests\"");
    c.refuse_unpriced_models = v == "refuse";
    return {};
  };
}

// "a, b,c" -> {"a", "b", "c"}; an empty item stays empty, for the caller to refuse.
std::vector<std::string_view> CommaList(std::string_view v) {
  std::vector<std::string_view> items;
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    items.push_back(item);
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
  }
  return items;
}

// "50,80,100": percents of a grant's budget.
Apply Percents() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    c.alert_percents.clear();
    for (std::string_view item : CommaList(v)) {
      auto n = ParsePositive(item, source);
      if (!n || *n > 1000) return Bad(std::string(source) + " must be percents such as \"50,80,100\"");
      c.alert_percents.push_back(*n);
    }
    return {};
  };
}

Apply WebhookUrl() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    if (auto url = http::ParseBaseUrl(v); !url) return Bad(std::string(source) + ": " + url.error().message);
    c.alert_webhook_url = v;
    return {};
  };
}

// "alice,bob" or "*": who besides the operator may spend the environment's keys.
Apply SharedWith() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    c.share_environment_keys_with.clear();
    for (std::string_view item : CommaList(v)) {
      if (item.empty()) return Bad(std::string(source) + " must be user names separated by commas, or \"*\"");
      c.share_environment_keys_with.emplace_back(item);
    }
    return {};
  };
}

// At least 3 seconds: heartbeats go every sixth of it, and one late heartbeat must not lose a broker.
Apply NodeTimeout() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    auto n = ParsePositive(v, source);
    if (!n) return n.error();
    if (*n < 3 || *n > 3600) return Bad(std::string(source) + " must be from 3 to 3600 seconds");
    c.node_timeout_seconds = *n;
    return {};
  };
}

// How many connections a broker's store uses: 1 to 64.
Apply PoolSize() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    auto n = ParsePositive(v, source);
    if (!n) return n.error();
    if (*n > 64) return Bad(std::string(source) + " must be from 1 to 64 connections");
    c.database_pool_size = *n;
    return {};
  };
}

// How many I/O threads: 1 to as many as keep their own upstream connections.
Apply IoThreadCount() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    auto n = ParsePositive(v, source);
    if (!n) return n.error();
    if (*n > static_cast<int64_t>(http::HttpClient::kPoolThreads))
      return Bad(std::string(source) + " must be from 1 to " + std::to_string(http::HttpClient::kPoolThreads) +
                 " threads");
    c.io_threads = static_cast<size_t>(*n);
    return {};
  };
}

// An http(s) origin, without a path: the broker serves at the root of it.
Apply PublicUrl() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    while (v.ends_with('/')) v.remove_suffix(1);
    auto url = http::ParseBaseUrl(v);
    if (!url) return Bad(std::string(source) + ": " + url.error().message);
    if (!url->path_prefix.empty())
      return Bad(std::string(source) + " must be a scheme, host and port only (the broker serves at the root)");
    c.public_url = std::string(v);
    return {};
  };
}

// A database URL the store can open (its message never shows the password).
Apply DatabaseUrl() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    if (auto target = store::ParseDatabaseUrl(v, ""); !target)
      return Bad(std::string(source) + ": " + target.error().message);
    c.database_url = std::string(v);
    return {};
  };
}

Apply ClientMetadataMode() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    if (v != "any" && v != "allow_list" && v != "off")
      return Bad(std::string(source) + " must be \"any\", \"allow_list\" or \"off\"");
    c.client_metadata_mode = v;
    return {};
  };
}

// Host names as they appear in client_id URLs: lowercase letters, digits, '-' and dots, or an IPv4 address.
Apply ClientMetadataHosts() {
  return [](Config& c, std::string_view v, std::string_view source) -> Status {
    c.client_metadata_hosts.clear();
    for (std::string_view item : CommaList(v)) {
      bool host = !item.empty() && item.size() <= 253 && item.front() != '.' && item.back() != '.' &&
                  std::all_of(item.begin(), item.end(), [](unsigned char ch) {
                    return std::islower(ch) || std::isdigit(ch) || ch == '-' || ch == '.';
                  });
      if (!host)
        return Bad(std::string(source) + " must be host names in lowercase separated by commas (such as "
                   "\"apps.example.com,notes.example\"), not '" + std::string(item) + "'");
      c.client_metadata_hosts.emplace_back(item);
    }
    return {};
  };
}

std::vector<Setting> Settings() {
  return {
      {"AIPASSPORT_LISTEN", "listen", Text(&Config::listen)},
      {"AIPASSPORT_DATA_DIR", "data_dir", Text(&Config::data_dir)},
      {"AIPASSPORT_DATABASE_URL", "database_url", DatabaseUrl()},
      {"AIPASSPORT_DATABASE_POOL_SIZE", "database.pool_size", PoolSize()},
      {"AIPASSPORT_PUBLIC_URL", "public_url", PublicUrl()},
      {"AIPASSPORT_NODE_TIMEOUT_SECONDS", "cluster.node_timeout_seconds", NodeTimeout()},
      {"AIPASSPORT_BODY_LIMIT_BYTES", "body_limit_bytes", Positive(&Config::body_limit_bytes)},
      {"AIPASSPORT_TOKEN_TTL_SECONDS", "token_ttl_seconds", Positive(&Config::token_ttl_seconds, kMostLifetimeSeconds)},
      {"AIPASSPORT_ISSUER", "issuer", Text(&Config::issuer)},
      {"AIPASSPORT_AUDIENCE", "audience", Text(&Config::audience)},
      {"AIPASSPORT_IO_THREADS", "io_threads", IoThreadCount()},
      {"AIPASSPORT_LOG_LEVEL", "log_level", LogLevel()},
      {"AIPASSPORT_UPSTREAM_TIMEOUT_SECONDS", "upstream.timeout_seconds",
       Positive(&Config::upstream_timeout_seconds, kMostTimeoutSeconds)},
      {"AIPASSPORT_CLIENT_TIMEOUT_SECONDS", "client_timeout_seconds",
       Positive(&Config::client_timeout_seconds, kMostTimeoutSeconds)},
      {"AIPASSPORT_UPSTREAM_CA_FILE", "upstream.ca_file", Text(&Config::upstream_ca_file)},
      {"AIPASSPORT_TLS_CERT_FILE", "tls.cert_file", Text(&Config::tls_cert_file)},
      {"AIPASSPORT_TLS_KEY_FILE", "tls.key_file", Text(&Config::tls_key_file)},
      {"AIPASSPORT_SIGNING_PUBLISH_SECONDS", "signing.publish_seconds",
       Positive(&Config::signing_publish_seconds, kMostLifetimeSeconds)},
      {"AIPASSPORT_OAUTH_DYNAMIC_REGISTRATION", "oauth.dynamic_registration", Flag(&Config::dynamic_registration)},
      {"AIPASSPORT_OPENAI_BASE_URL", "providers.openai.base_url", BaseUrl(0)},
      {"AIPASSPORT_ANTHROPIC_BASE_URL", "providers.anthropic.base_url", BaseUrl(1)},
      {"AIPASSPORT_GOOGLE_BASE_URL", "providers.google.base_url", BaseUrl(2)},
      {"AIPASSPORT_UNKNOWN_MODELS", "pricing.unknown_models", UnknownModels()},
      {"AIPASSPORT_MAX_CONCURRENT_PER_GRANT", "limits.max_concurrent_per_grant",
       Positive(&Config::max_concurrent_per_grant)},
      {"AIPASSPORT_GRANT_REQUESTS_PER_ADDRESS_PER_MINUTE", "grant_requests.per_address_per_minute",
       Positive(&Config::grant_requests_per_address_per_minute)},
      {"AIPASSPORT_GRANT_REQUESTS_MAX_WAITING", "grant_requests.max_waiting",
       Positive(&Config::max_waiting_grant_requests)},
      {"AIPASSPORT_ALERT_THRESHOLDS", "alerts.thresholds", Percents()},
      {"AIPASSPORT_ALERT_WEBHOOK_URL", "alerts.webhook_url", WebhookUrl()},
      {"AIPASSPORT_MASTER_KEY_FILE", "vault.master_key_file", Text(&Config::master_key_file)},
      {"AIPASSPORT_SHARE_ENVIRONMENT_KEYS_WITH", "vault.share_environment_keys_with", SharedWith()},
      {"AIPASSPORT_ACTIVITY_RETENTION_DAYS", "activity.retention_days",
       Positive(&Config::activity_retention_days, kMaxRetentionDays)},
      {"AIPASSPORT_LOG_FORMAT", "log_format", LogFormat()},
      {"AIPASSPORT_METRICS_LISTEN", "metrics.listen", MetricsListen()},
      {"AIPASSPORT_METRICS_PER_APP_LABELS", "metrics.per_app_labels", Flag(&Config::metrics_per_app_labels)},
      {"AIPASSPORT_METRICS_ALLOW_REMOTE", "metrics.allow_remote", Flag(&Config::metrics_allow_remote)},
      {"AIPASSPORT_CLIENT_METADATA_MODE", "oauth.client_metadata.mode", ClientMetadataMode()},
      {"AIPASSPORT_CLIENT_METADATA_HOSTS", "oauth.client_metadata.hosts", ClientMetadataHosts()},
      {"AIPASSPORT_CLIENT_METADATA_ALLOW_PRIVATE", "oauth.client_metadata.allow_private_addresses",
       Flag(&Config::client_metadata_allow_private)},
  };
}

std::optional<std::string> TomlScalar(const toml::node& node) {
  if (auto s = node.value<std::string>()) return *s;
  if (node.is_boolean()) return *node.value<bool>() ? "true" : "false";
  if (node.is_integer()) return std::to_string(*node.value<int64_t>());
  if (const auto* list = node.as_array()) {  // ["alice", "bob"]: read as "alice,bob"
    std::string joined;
    for (const auto& item : *list) {
      auto text = item.value<std::string>();
      if (!text || text->find(',') != std::string::npos) return std::nullopt;
      joined += (joined.empty() ? "" : ",") + *text;
    }
    return joined;
  }
  return std::nullopt;
}

constexpr std::string_view kCompatible = "openai_compatible";
constexpr std::string_view kPrices = "prices";

// `[[prices]]` entries, checked now so a mistake stops the start with its place in the file.
Status ReadPriceOverrides(const toml::table& table, const std::string& file, Config& config) {
  const toml::node* node = table.get(kPrices);
  if (!node) return {};
  std::ostringstream text;
  text << toml::table{{kPrices, *node}};
  metering::PriceTable scratch;
  if (auto ok = metering::AddPrices(text.str(), kPrices, file, scratch); !ok) return ok.error();
  config.price_overrides_toml = text.str();
  config.price_overrides_source = file;
  return {};
}
// Path prefixes a declared upstream may not take: the built-in providers and the broker's own routes.
constexpr std::string_view kReservedNames[] = {"openai", "anthropic", "google", "gemini",         "grants", "tokens",
                                               "proxy",  "health",    "oauth",  "grant-requests", "v1",     "ui",
                                               "activity", "audit"};

// An upstream's extra_members: at most 64 names of 1-64 lowercase letters, digits and '_', as JSON
// names them (written in the body exactly so).
Result<std::vector<std::string>> ReadExtraMembers(const toml::node* node, const std::string& where) {
  std::vector<std::string> names;
  if (!node) return names;
  const toml::array* list = node->as_array();
  auto bad = [&] {
    return Bad(where +
               ": extra_members must be a list of at most 64 names, each 1-64 lowercase letters, digits "
               "or '_'");
  };
  if (!list || list->size() > 64) return bad();
  for (const toml::node& item : *list) {
    std::string name = item.value_or(std::string());
    bool plain = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::islower(c) || std::isdigit(c) || c == '_';
    });
    if (!plain) return bad();
    names.push_back(std::move(name));
  }
  return names;
}

// `[[openai_compatible]]` entries: name, base_url, and optionally api_key_env (the variable holding
// its key) and extra_members.
Status ReadCompatibleUpstreams(const toml::table& table, const std::string& file, const Environment& env,
                               Config& config) {
  const toml::node* node = table.get(kCompatible);
  if (!node) return {};
  const toml::array* entries = node->as_array();
  if (!entries)
    return Bad(std::string(kCompatible) + " in " + file + " must be an array of tables ([[openai_compatible]])");
  for (const toml::node& entry : *entries) {
    const toml::table* t = entry.as_table();
    std::string where = std::string(kCompatible) + " entry in " + file;
    if (!t) return Bad(where + " must be a table");
    for (const auto& [key, value] : *t)
      if (key != "name" && key != "base_url" && key != "api_key_env" && key != "extra_members")
        return Bad("unknown setting '" + std::string(key.str()) + "' in an " + where +
                   " (expected name, base_url, api_key_env, extra_members)");
    CompatibleUpstream up;
    up.name = t->get("name") ? t->get("name")->value_or(std::string()) : "";
    bool valid_name =
        !up.name.empty() && up.name.size() <= 32 && std::islower(static_cast<unsigned char>(up.name[0])) &&
        std::all_of(up.name.begin(), up.name.end(),
                    [](unsigned char c) { return std::islower(c) || std::isdigit(c) || c == '-' || c == '_'; });
    if (!valid_name)
      return Bad(where + ": name must be 1-32 lowercase letters, digits, '-' or '_', starting with a letter");
    if (std::find(std::begin(kReservedNames), std::end(kReservedNames), up.name) != std::end(kReservedNames))
      return Bad(where + ": the name '" + up.name + "' is taken by the broker");
    for (const auto& other : config.compatible_upstreams)
      if (other.name == up.name) return Bad(where + ": the name '" + up.name + "' is declared twice");
    up.base_url = t->get("base_url") ? t->get("base_url")->value_or(std::string()) : "";
    if (auto url = http::ParseBaseUrl(up.base_url); !url)
      return Bad(where + " '" + up.name + "': " + url.error().message);
    if (const toml::node* key_env = t->get("api_key_env")) {
      up.api_key_env = key_env->value_or(std::string());
      if (up.api_key_env.empty()) return Bad(where + " '" + up.name + "': api_key_env must name a variable");
      // The broker's own secrets (master key, admin token, database URL) would go to that server
      // with every call, and its last four characters to the keys page.
      if (up.api_key_env.starts_with("AIPASSPORT_"))
        return Bad(where + " '" + up.name + "': api_key_env names one of the broker's own settings (" + up.api_key_env +
                   "); name the variable that holds that server's key");
      up.api_key = env(up.api_key_env).value_or("");
    }
    if (auto extra = ReadExtraMembers(t->get("extra_members"), where + " '" + up.name + "'"); !extra)
      return extra.error();
    else
      up.extra_members = std::move(*extra);
    config.compatible_upstreams.push_back(std::move(up));
  }
  return {};
}

// Every key in the file must be a known setting: a typo should not silently fall back to a default.
Status CheckKnownKeys(const toml::table& table, const std::string& prefix, const std::vector<Setting>& settings) {
  for (const auto& [key, node] : table) {
    // A quoted key with a dot ("database.pool_size" = 4) spells a known setting's path but is read
    // by none: refused, not silently ignored.
    if (key.str().find('.') != std::string_view::npos)
      return Bad("the key \"" + std::string(key.str()) + "\" in the config file has a dot inside its quotes: write " +
                 "it unquoted (" + std::string(key.str()) + " = ...) or as a [table]");
    std::string path = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (path == kCompatible || path == kPrices) continue;  // read on their own
    if (const auto* sub = node.as_table()) {
      if (auto ok = CheckKnownKeys(*sub, path, settings); !ok) return ok;
      continue;
    }
    bool known = std::any_of(settings.begin(), settings.end(), [&](const Setting& s) { return path == s.toml_path; });
    if (!known) return Bad("unknown setting '" + path + "' in the config file");
  }
  return {};
}

bool IsLoopback(const std::string& host) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

}  // namespace

Environment ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

Status CheckUpstreamKeys(const Config& config) {
  for (const auto& up : config.compatible_upstreams)
    if (!up.api_key_env.empty() && up.api_key.empty())
      return MakeError(Errc::kBadRequest, std::string(kCompatible) + " '" + up.name +
                                              "': the variable named by api_key_env ('" + up.api_key_env +
                                              "') is not set");
  return {};
}

Result<Config> LoadConfig(const Flags& flags, const Environment& env) {
  Config config;
  for (proxy::Provider p : proxy::kAllProviders) config.base_urls[static_cast<size_t>(p)] = proxy::DefaultBaseUrl(p);
  auto settings = Settings();

  if (auto ttl = env("TOKEN_TTL_SECONDS"))  // the reference's name
    if (auto ok = Positive(&Config::token_ttl_seconds, kMostLifetimeSeconds)(config, *ttl, "TOKEN_TTL_SECONDS"); !ok)
      return ok.error();
  for (const auto& s : settings)
    if (auto value = env(s.env))
      if (auto ok = s.apply(config, *value, s.env); !ok) return ok.error();

  std::optional<std::string> file = flags.config_file ? flags.config_file : env("AIPASSPORT_CONFIG");
  if (file) {
    toml::table table;
    try {
      table = toml::parse_file(*file);
    } catch (const toml::parse_error& e) {
      const auto& at = e.source().begin;
      return Bad("cannot read config file " + *file + " (line " + std::to_string(at.line) + ", column " +
                 std::to_string(at.column) + "): " + std::string(e.description()));
    }
    if (auto ok = CheckKnownKeys(table, "", settings); !ok) return ok.error();
    if (auto ok = ReadCompatibleUpstreams(table, *file, env, config); !ok) return ok.error();
    if (auto ok = ReadPriceOverrides(table, *file, config); !ok) return ok.error();
    for (const auto& s : settings) {
      const toml::node* node = table.at_path(s.toml_path).node();
      if (!node) continue;
      auto value = TomlScalar(*node);
      std::string source = std::string(s.toml_path) + " in " + *file;
      if (!value) return Bad(source + " must be a string, an integer or a list of strings");
      if (auto ok = s.apply(config, *value, source); !ok) return ok.error();
    }
    struct stat st {};
    auto url = table.at_path("database_url").value<std::string>();
    if (url && store::RedactDatabaseUrl(*url) != *url && ::stat(file->c_str(), &st) == 0 && (st.st_mode & S_IROTH))
      config.password_file_open_to_all = *file;
  }

  if (flags.listen) config.listen = *flags.listen;
  if (flags.data_dir) config.data_dir = *flags.data_dir;
  if (config.master_key_file.empty()) config.master_key_file = config.data_dir / "master.key";
  config.master_key_base64 = env("AIPASSPORT_MASTER_KEY");
  auto listen = ParseListen(config.listen);
  if (!listen) return listen.error();
  if (config.tls_cert_file.empty() != config.tls_key_file.empty())
    return Bad("HTTPS needs both tls.cert_file and tls.key_file (AIPASSPORT_TLS_CERT_FILE, AIPASSPORT_TLS_KEY_FILE)");
  if (config.tls_cert_file.empty() && !IsLoopback(listen->host))
    return Bad(
        "plain HTTP is only served on loopback: to listen on " + config.listen +
        ", give a certificate (tls.cert_file, tls.key_file), or keep the broker on 127.0.0.1 behind a TLS proxy");
  // /metrics is plain HTTP without authentication, and says what every app spends: it leaves
  // loopback only when the operator says so.
  if (!config.metrics_listen.empty() && !config.metrics_allow_remote &&
      !IsLoopback(ParseListen(config.metrics_listen)->host))
    return Bad("metrics.listen (AIPASSPORT_METRICS_LISTEN) is " + config.metrics_listen +
               ", not a loopback address: metrics are served as plain HTTP to anyone who can connect; keep it on "
               "127.0.0.1, or set metrics.allow_remote = true (AIPASSPORT_METRICS_ALLOW_REMOTE) to serve them there");
  if (config.client_metadata_mode == "allow_list" && config.client_metadata_hosts.empty())
    return Bad("oauth.client_metadata.mode (AIPASSPORT_CLIENT_METADATA_MODE) is \"allow_list\" but no host is listed: "
               "name them in oauth.client_metadata.hosts (AIPASSPORT_CLIENT_METADATA_HOSTS), or choose \"off\"");
  if (config.client_metadata_mode != "allow_list" && !config.client_metadata_hosts.empty())
    return Bad("oauth.client_metadata.hosts (AIPASSPORT_CLIENT_METADATA_HOSTS) is only used with "
               "oauth.client_metadata.mode = \"allow_list\", but the mode is \"" + config.client_metadata_mode +
               "\": set the mode too, or remove the hosts");
  return config;
}

Result<HostPort> ParseListen(std::string_view text) {
  auto bad = [&] {
    return Bad("listen address must be HOST:PORT (for example 127.0.0.1:8080), not '" + std::string(text) + "'");
  };
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string_view host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  }
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535 || port_text.empty())
    return bad();
  return HostPort{host == "localhost" ? "127.0.0.1" : std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace ap::app
