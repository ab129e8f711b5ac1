#pragma once
// The broker's settings. Each comes from, in order of precedence: a command-line flag, the TOML
// config file, an environment variable, the default written here.

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace ap::app {

// An OpenAI-compatible server the owner declared (Ollama, vLLM, Mistral, Groq...), served under
// /<name>/v1/ and usable as a grant's provider.
struct CompatibleUpstream {
  std::string name;
  std::string base_url;
  std::string api_key;                     // a secret, read from the variable the file names; empty: none (or not set)
  std::string api_key_env;                 // that variable's name; empty: the server takes no key
  std::vector<std::string> extra_members;  // body members beyond OpenAI's it is sent (its own sampling options)
};

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::filesystem::path data_dir = "./data";
  std::string database_url;  // empty: <data_dir>/aipassport.db (see store/open_store.hpp)
  // The config file, when it holds database_url's password and every user of the host may read it
  // (serve warns of it); empty otherwise.
  std::string password_file_open_to_all;
  // The URL apps use (a balancer's, shared by every broker behind it): DPoP proofs' htu, OAuth
  // metadata and redirects. Empty: the URL this broker listens on.
  std::string public_url;
  // A broker silent this long is gone: its leases count as spent, the limits are split without it.
  int64_t node_timeout_seconds = 30;
  // Connections to the database: one for every write and the calls' limits, in order; the others
  // for the owner's long reads (the record, downloads). 1 puts everything on one.
  int64_t database_pool_size = 8;
  size_t body_limit_bytes = 1 << 20;
  int64_t token_ttl_seconds = 3600;
  std::string issuer;  // the OAuth issuer and the tokens' iss; empty: public_url
  std::string audience = "aipassport";
  size_t io_threads = 0;  // 0: one per core, at most http::HttpClient::kPoolThreads
  std::string log_level = "info";
  int64_t upstream_timeout_seconds = 600;
  // An app that sends or reads no byte of a request or answer for this long is disconnected.
  int64_t client_timeout_seconds = 30;
  std::string upstream_ca_file;
  std::string tls_cert_file;                             // serve HTTPS with this PEM certificate chain...
  std::string tls_key_file;                              // ...and this private key
  int64_t signing_publish_seconds = 600;                 // a rotated-in key is published this long before it signs
  bool dynamic_registration = false;                     // apps may register themselves (RFC 7591)
  std::array<std::string, 3> base_urls;                  // indexed by proxy::Provider; defaults are the real APIs
  std::vector<CompatibleUpstream> compatible_upstreams;  // only from the config file
  bool refuse_unpriced_models = true;                    // pricing.unknown_models = "refuse" | "count_requests"
  int64_t max_concurrent_per_grant = 32;                 // calls in flight when a grant sets no maxConcurrent
  int64_t grant_requests_per_address_per_minute = 60;   // POST /grant-requests from one address
  int64_t max_waiting_grant_requests = 100;              // unverified requests waiting for a decision at once
  std::vector<int64_t> alert_percents = {50, 80, 100};   // of a grant's budget
  std::string alert_webhook_url;                         // POSTed a JSON event when a threshold is crossed
  std::string price_overrides_toml;                      // the file's [[prices]] entries, as TOML
  std::string price_overrides_source;                    // the file they came from
  std::filesystem::path master_key_file;                 // vault.master_key_file; empty: <data_dir>/master.key
  std::optional<std::string> master_key_base64;          // AIPASSPORT_MASTER_KEY (a secret), wins over the file
  // Owners besides the operator who may spend the environment's provider keys; "*" is everyone.
  std::vector<std::string> share_environment_keys_with;
  int64_t activity_retention_days = 30;  // activity rows older than this are pruned
  std::string metrics_listen;            // HOST:PORT serving GET /metrics; empty: no metrics
  bool metrics_per_app_labels = false;   // label requests and cost by app name too
  bool metrics_allow_remote = false;     // metrics_listen may be an address other than loopback
  bool log_json = false;                 // log_format = "json": every log line a JSON object
  // Apps whose client_id is the https URL of their metadata document: "any", "allow_list" (only
  // from client_metadata_hosts) or "off".
  std::string client_metadata_mode = "any";
  std::vector<std::string> client_metadata_hosts;
  bool client_metadata_allow_private = false;  // fetch documents from private and loopback addresses too
};

// Values given on the command line; unset ones fall through to the file, the environment, the defaults.
struct Flags {
  std::optional<std::string> listen;
  std::optional<std::string> data_dir;
  std::optional<std::string> config_file;
};

using Environment = std::function<std::optional<std::string>(const std::string&)>;
Environment ProcessEnvironment();

// Fails with a message naming the offending setting and its source. A compatible upstream's key
// variable that is not set is not a failure here (commands other than serve need no provider key,
// and an operator should not have to type one into a shell to run them): see CheckUpstreamKeys.
Result<Config> LoadConfig(const Flags& flags, const Environment& env);

// For serve: fails naming each compatible upstream whose api_key_env variable was not set.
Status CheckUpstreamKeys(const Config& config);

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// "127.0.0.1:8080", "[::1]:8080", "localhost:0"
Result<HostPort> ParseListen(std::string_view text);

}  // namespace ap::app
