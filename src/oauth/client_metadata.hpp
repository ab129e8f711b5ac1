#pragma once
// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, as MCP uses them): an
// app whose client_id is an https URL needs no registration. The broker fetches the JSON document at
// that URL and treats what it says as a public client: the document must name the URL as its
// client_id, and lists the redirect URIs the app may use. Nobody vouched for such an app: the consent
// screen shows it as unverified, with the host the document came from.
//
// The fetch is made to a URL anyone can type, so it is fenced: https only (certificates checked
// against the system's CAs plus upstream.ca_file), no redirect followed, 5 seconds, 5 KB, and no
// private, loopback or link-local address (checked on the address connected to, after resolution,
// so a name that resolves elsewhere a second time gains nothing) unless the operator allows them.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "store/oauth_store.hpp"

namespace ap::api {
struct BrokerContext;
}

namespace ap::oauth {

enum class ClientMetadataMode { kAny, kAllowList, kOff };

struct ClientMetadataOptions {
  ClientMetadataMode mode = ClientMetadataMode::kAny;
  std::vector<std::string> allowed_hosts;  // kAllowList: the URL's host must be one of these exactly
  bool allow_private_addresses = false;    // tests and private deployments
  std::string ca_file;                     // extra trust anchors (upstream.ca_file)
};

inline constexpr size_t kMaxClientMetadataBytes = 5 * 1024;
inline constexpr std::chrono::seconds kClientMetadataTimeout{5};
// Documents are kept as their Cache-Control says, within these bounds (a flow's steps never refetch,
// a changed document is read again within a day), and at most this many at once (each at most 5 KB).
inline constexpr int64_t kMinClientMetadataSeconds = 60;
inline constexpr int64_t kMaxClientMetadataSeconds = 86400;
inline constexpr int64_t kDefaultClientMetadataSeconds = 600;  // when the answer says nothing
inline constexpr size_t kMaxCachedClientMetadata = 1000;

// Whether `client_id` names a metadata document rather than a registered client: it starts with
// "https://" or "http://" (the latter only to be refused with a clear reason).
bool IsClientIdUrl(std::string_view client_id);

// Whether `url` may be a client_id: https, a host name or IPv4 address, a path other than "/", no
// userinfo, fragment or dot segment, in canonical form (the redirect URI rules). kValidation saying
// what is wrong otherwise.
Status CheckClientIdUrl(std::string_view url);

// The public client the document `body`, fetched from `url`, describes; kValidation saying what is
// wrong: not a JSON object, a client_id other than `url` exactly, no or a bad redirect_uris, a
// secret or a token_endpoint_auth_method other than "none", or a name, client_uri or logo_uri that a
// registered client could not have either.
Result<store::ClientRecord> ClientFromMetadata(std::string_view url, std::string_view body, UnixSeconds now);

// Whether `address` is on the public Internet: not private (RFC 1918, fc00::/7), loopback,
// link-local, shared (100.64/10), unspecified, multicast, reserved or documentation, nor an IPv6
// form of such an IPv4 address (mapped, compatible, NAT64, 6to4).
bool IsPublicAddress(const boost::asio::ip::address& address);

// How long an answer with this Cache-Control may be kept, within the bounds above.
int64_t CacheSeconds(std::string_view cache_control);

// Fetches, checks and caches metadata documents.
// Thread-safety: Resolve may be called from any coroutine on any thread.
class ClientMetadataResolver {
 public:
  // Throws if the TLS context cannot be set up (a startup error).
  ClientMetadataResolver(ClientMetadataOptions options, Clock clock);
  ~ClientMetadataResolver();
  ClientMetadataResolver(const ClientMetadataResolver&) = delete;
  ClientMetadataResolver& operator=(const ClientMetadataResolver&) = delete;

  // Whether client_id URLs are accepted at all (the metadata says so when they are).
  bool Enabled() const;
  // The public client the document at `url` describes, from the cache or fetched now. kBadRequest
  // with a sentence for the person when the URL, the fetch or the document is refused;
  // kUnavailable when too many documents are being fetched at once. A fetch is counted against the
  // address that caused it (`peer`): kRateLimited once it caused kFetchesPerAddress in a minute.
  boost::asio::awaitable<Result<store::ClientRecord>> Resolve(const std::string& url, std::string_view peer);
  static constexpr int64_t kFetchesPerAddress = 30;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The client `client_id` names: one described by its metadata document when it is a URL (through
// ctx.client_metadata, the fetch counted against `peer`; refused when there is none), a registered
// one from the store otherwise. Errors are sentences for the person or the app: kNotFound "unknown
// client_id" for an unregistered id, kBadRequest for a refused document, kRateLimited when `peer`
// caused too many fetches, kUnavailable when the broker cannot look now.
boost::asio::awaitable<Result<store::ClientRecord>> FindClient(api::BrokerContext& ctx, const std::string& client_id,
                                                               std::string_view peer);

// Whether the broker vouches for `client`'s name and home page to the owner `owner_id`, who decides a
// request in its name: the operator added it, or this owner registered it on /apps. An app another
// owner registered, or one that registered or described itself, is only what it says it is (its
// consent screen says "Unverified", and an error in its authorization request is shown, never sent
// to its redirect URI).
bool VouchedFor(const store::ClientRecord& client, std::string_view owner_id);

// What the per-client throttles count a client under: its id, or for a client_id URL (which anyone
// can invent by the thousand) its host.
std::string ClientThrottleKey(const std::string& client_id);

}  // namespace ap::oauth
