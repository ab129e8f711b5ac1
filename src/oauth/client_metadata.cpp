#include "oauth/client_metadata.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "api/broker_context.hpp"
#include "api/throttles.hpp"
#include "core/utf8.hpp"
#include "http/client.hpp"
#include "http/url.hpp"
#include "oauth/client_registration.hpp"
#include "oauth/redirect_uri.hpp"

namespace ap::oauth {
namespace asio = boost::asio;
namespace json = boost::json;
namespace bhttp = http::bhttp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// Fetches at once, over every thread: a flood of client_id URLs ties up no more than this.
constexpr int kMaxFetchesInFlight = 64;

Error Refused(std::string sentence) { return MakeError(Errc::kBadRequest, std::move(sentence)); }
// The document could not be had now (its host unreachable, slow or failing): not the app's fault,
// and maybe gone at the next try, so not an answer that its credentials are wrong.
Error Unreachable(std::string sentence) {
  Error e = MakeError(Errc::kUnavailable, std::move(sentence));
  e.retry_after_seconds = 5;
  return e;
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), text.begin(), [](char p, char t) {
           return std::tolower(static_cast<unsigned char>(t)) == p;
         });
}

bool InV4(uint32_t a, uint32_t network, int bits) { return bits == 0 || (a >> (32 - bits)) == (network >> (32 - bits)); }

bool IsPublicV4(const asio::ip::address_v4& address) {
  uint32_t a = address.to_uint();
  struct Range {
    uint32_t network;
    int bits;
  };
  static constexpr Range kRefused[] = {
      {0x00000000, 8},   // "this" network
      {0x0A000000, 8},   // private
      {0x64400000, 10},  // shared address space (carrier-grade NAT)
      {0x7F000000, 8},   // loopback
      {0xA9FE0000, 16},  // link-local (cloud metadata services live here)
      {0xAC100000, 12},  // private
      {0xC0000000, 24},  // IETF protocol assignments
      {0xC0000200, 24},  // documentation
      {0xC0586300, 24},  // 6to4 relay anycast
      {0xC0A80000, 16},  // private
      {0xC6120000, 15},  // benchmarking
      {0xC6336400, 24},  // documentation
      {0xCB007100, 24},  // documentation
      {0xE0000000, 4},   // multicast
      {0xF0000000, 4},   // reserved, and the broadcast address
  };
  return std::none_of(std::begin(kRefused), std::end(kRefused),
                      [a](const Range& r) { return InV4(a, r.network, r.bits); });
}

asio::ip::address_v4 V4At(const asio::ip::address_v6::bytes_type& b, size_t at) {
  return asio::ip::address_v4(asio::ip::address_v4::bytes_type{b[at], b[at + 1], b[at + 2], b[at + 3]});
}

bool IsPublicV6(const asio::ip::address_v6& address) {
  auto b = address.to_bytes();
  auto prefix_zero = [&b](size_t n) { return std::all_of(b.begin(), b.begin() + n, [](unsigned char c) { return c == 0; }); };
  if (address.is_v4_mapped()) return IsPublicV4(V4At(b, 12));
  if (prefix_zero(12)) return IsPublicV4(V4At(b, 12));  // ::, ::1 and the IPv4-compatible ::a.b.c.d
  // IPv4-translated (SIIT) ::ffff:0:a.b.c.d, which a host with a translator reaches as a.b.c.d.
  if (prefix_zero(8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) return IsPublicV4(V4At(b, 12));
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {  // NAT64: 64:ff9b::/96, 64:ff9b:1::/48
    bool well_known = std::all_of(b.begin() + 4, b.begin() + 12, [](unsigned char c) { return c == 0; });
    return well_known && IsPublicV4(V4At(b, 12));
  }
  if (b[0] == 0x20 && b[1] == 0x02) return IsPublicV4(V4At(b, 2));  // 6to4
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) return false;  // Teredo hides its address
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return false;  // documentation
  if (b[0] == 0x01 && std::all_of(b.begin() + 1, b.begin() + 8, [](unsigned char c) { return c == 0; }))
    return false;                                           // discard-only 100::/64
  if ((b[0] & 0xfe) == 0xfc) return false;  // unique local fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;  // link-local fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return false;  // site-local fec0::/10 (deprecated, still private)
  if (b[0] == 0xff) return false;                           // multicast
  return true;
}

// The origin and request target of an acceptable client_id URL.
struct Location {
  http::Origin origin;
  std::string target;  // path and query
  std::string host;    // as written in the URL, for the allow list and messages
};

Location LocationOf(std::string_view url) {
  std::string terminated(url);  // Boost.URL 1.81 reads to a NUL (see http/cookies.cpp)
  boost::urls::url_view u = boost::urls::parse_uri(terminated).value();
  Location at;
  at.host = std::string(u.encoded_host());
  at.origin.tls = true;
  at.origin.host = at.host.starts_with('[') ? at.host.substr(1, at.host.size() - 2) : at.host;
  at.origin.port = u.has_port() ? std::string(u.port()) : "443";
  at.target = std::string(u.encoded_path()) + (u.has_query() ? "?" + std::string(u.encoded_query()) : "");
  return at;
}

struct Fetched {
  std::string body;
  std::string cache_control;
};

}  // namespace

bool IsClientIdUrl(std::string_view client_id) {
  return StartsWithNoCase(client_id, "https://") || StartsWithNoCase(client_id, "http://");
}

Status CheckClientIdUrl(std::string_view url) {
  if (!url.starts_with("https://")) return MakeError(Errc::kValidation, "a client_id URL must use https");
  if (auto ok = CheckRedirectUri(url); !ok) {
    // The redirect URI rules' sentence, about this URL instead.
    std::string why = ok.error().message;
    for (std::string_view prefix : {"redirect URI '" + std::string(url) + "' ", std::string("a redirect URI ")})
      if (why.starts_with(prefix)) why = why.substr(prefix.size());
    return MakeError(Errc::kValidation, "the client_id URL " + why);
  }
  if (LocationOf(url).target.starts_with("/?") || LocationOf(url).target == "/")
    return MakeError(Errc::kValidation, "the client_id URL needs a path naming its document, not just '/'");
  return {};
}

Result<store::ClientRecord> ClientFromMetadata(std::string_view url, std::string_view body, UnixSeconds now) {
  // What the document says is quoted in the refusal, which is logged and shown on the broker's error
  // page: made printable, it cannot forge a log line or lay out the page.
  auto bad = [](std::string_view why) {
    return MakeError(Errc::kValidation, "the document " + PrintableText(why, 600));
  };
  boost::system::error_code ec;
  json::value doc = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec || !doc.is_object()) return bad("is not a JSON object");
  const json::object& o = doc.get_object();
  auto text = [&o](const char* name) -> std::optional<std::string> {
    const json::value* v = o.if_contains(name);
    if (!v) return std::string();
    if (!v->is_string()) return std::nullopt;
    return std::string(v->get_string());
  };
  auto client_id = text("client_id");
  if (!client_id || client_id->empty()) return bad("has no client_id");
  if (*client_id != url)
    return bad("names another client_id (\"" + client_id->substr(0, 200) + "\") than the URL it was fetched from");
  if (o.contains("client_secret") || o.contains("client_secret_expires_at"))
    return bad("carries a client_secret: an app described by a metadata document is a public client");
  auto method = text("token_endpoint_auth_method");
  if (!method || (!method->empty() && *method != "none"))
    return bad("asks for a token_endpoint_auth_method other than \"none\": such an app is a public client");
  ClientRequest request;
  request.self_registered = true;
  auto name = text("client_name"), home = text("client_uri"), logo = text("logo_uri");
  if (!name || !home || !logo) return bad("has a client_name, client_uri or logo_uri that is not a string");
  request.name = name->empty() ? http::UrlHost(url) : *name;
  request.home_url = *home;
  request.logo_url = *logo;
  auto device = AsksForDeviceGrant(o);
  if (!device) return bad("has a grant_types that is not an array of strings");
  request.device_grant = *device;
  if (const json::value* dpop = o.if_contains("dpop_bound_access_tokens"); dpop && !dpop->is_null()) {
    if (!dpop->is_bool()) return bad("has a dpop_bound_access_tokens that is not true or false");
    request.dpop_required = dpop->get_bool();
  }
  const json::value* uris = o.if_contains("redirect_uris");
  if (!uris || !uris->is_array()) return bad("has no redirect_uris array");
  for (const auto& uri : uris->get_array()) {
    if (!uri.is_string()) return bad("has a redirect_uris entry that is not a string");
    request.redirect_uris.emplace_back(uri.get_string());
  }
  auto made = MakeClient(request, now);
  if (!made) return bad("is refused: " + made.error().message);
  made->record.id = std::string(url);
  return std::move(made->record);
}

bool IsPublicAddress(const asio::ip::address& address) {
  return address.is_v4() ? IsPublicV4(address.to_v4()) : IsPublicV6(address.to_v6());
}

int64_t CacheSeconds(std::string_view cache_control) {
  std::optional<int64_t> max_age;
  bool uncached = false;
  while (!cache_control.empty()) {
    size_t comma = cache_control.find(',');
    std::string directive(cache_control.substr(0, comma));
    cache_control = comma == std::string_view::npos ? std::string_view() : cache_control.substr(comma + 1);
    directive.erase(std::remove(directive.begin(), directive.end(), ' '), directive.end());
    std::transform(directive.begin(), directive.end(), directive.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (directive == "no-store" || directive == "no-cache") uncached = true;
    if (directive.starts_with("max-age=")) {
      int64_t n = 0;
      std::string_view digits = std::string_view(directive).substr(8);
      if (!digits.empty() && digits.front() == '"' && digits.back() == '"' && digits.size() >= 2)
        digits = digits.substr(1, digits.size() - 2);
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec == std::errc::result_out_of_range) n = kMaxClientMetadataSeconds;
      else if (ec != std::errc() || ptr != digits.data() + digits.size()) continue;
      max_age = n;
    }
  }
  if (uncached) return kMinClientMetadataSeconds;
  return std::clamp(max_age.value_or(kDefaultClientMetadataSeconds), kMinClientMetadataSeconds,
                    kMaxClientMetadataSeconds);
}

struct ClientMetadataResolver::Impl {
  Impl(ClientMetadataOptions o, Clock c) : options(std::move(o)), clock(std::move(c)) {
    http::ClientOptions client_options;
    client_options.connect_timeout = kClientMetadataTimeout;
    client_options.request_timeout = kClientMetadataTimeout;
    client_options.max_idle_per_origin = 0;
    client_options.response_limit = kMaxClientMetadataBytes;
    client_options.ca_file = options.ca_file;
    client_options.system_trust_at_start = false;  // read at the first fetch: documents are seldom fetched
    client_options.lookups_apart = true;           // names an outsider chose
    if (!options.allow_private_addresses)
      client_options.allow_address = [](const asio::ip::address& a) { return IsPublicAddress(a); };
    client = std::make_shared<http::HttpClient>(client_options);
  }

  struct Cached {
    store::ClientRecord client;
    UnixSeconds expires_at = 0;
  };

  std::optional<store::ClientRecord> Find(const std::string& url, UnixSeconds now) {
    std::lock_guard lock(mutex);
    auto it = cache.find(url);
    if (it == cache.end()) return std::nullopt;
    if (it->second.expires_at <= now) {
      cache.erase(it);
      return std::nullopt;
    }
    return it->second.client;
  }

  // When full, the expired entries go, and then the one that would expire first.
  void Keep(const store::ClientRecord& client, UnixSeconds expires_at, UnixSeconds now) {
    std::lock_guard lock(mutex);
    if (cache.size() >= kMaxCachedClientMetadata && !cache.contains(client.id)) {
      std::erase_if(cache, [now](const auto& entry) { return entry.second.expires_at <= now; });
      if (cache.size() >= kMaxCachedClientMetadata)
        cache.erase(std::min_element(cache.begin(), cache.end(), [](const auto& a, const auto& b) {
          return a.second.expires_at < b.second.expires_at;
        }));
    }
    cache[client.id] = Cached{client, expires_at};
  }

  static Error TooSlow() {
    return Unreachable("the URL did not answer within " + std::to_string(kClientMetadataTimeout.count()) + " seconds");
  }

  // The document's body and Cache-Control, or a sentence saying why there is none.
  static asio::awaitable<Result<Fetched>> Fetch(std::shared_ptr<http::HttpClient> client, Location at) {
    http::CallHead call(bhttp::verb::get, at.target);
    call.Add("Accept", "application/json");
    call.Add("User-Agent", "aipassport");
    auto opened = co_await client->Open(at.origin, call);
    if (!opened) {
      if (opened.error().code == Errc::kForbidden)
        co_return Refused(at.host +
                          " has no public address (it does not resolve, or only to a private, loopback or "
                          "link-local address, which this broker does not fetch from)");
      if (opened.error().code == Errc::kUpstreamTimeout) co_return TooSlow();
      co_return Unreachable("the document could not be fetched: " + opened.error().message);
    }
    http::UpstreamAnswer& answer = **opened;
    unsigned status = answer.Head().result_int();
    if (status >= 300 && status < 400)
      co_return Refused("the URL answered with a redirect (HTTP " + std::to_string(status) +
                        "), and redirects are not followed: the client_id must be the document's own URL");
    if (status >= 500 || status == 429)
      co_return Unreachable("the URL answered HTTP " + std::to_string(status) + ", not the document");
    if (status != 200) co_return Refused("the URL answered HTTP " + std::to_string(status) + ", not the document");
    const std::string too_big = "the document is larger than " + std::to_string(kMaxClientMetadataBytes / 1024) + " KB";
    if (auto length = answer.Head().find(bhttp::field::content_length); length != answer.Head().end()) {
      size_t n = 0;
      std::string_view v = length->value();
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || n > kMaxClientMetadataBytes) co_return Refused(too_big);
    }
    Fetched fetched;
    if (auto cc = answer.Head().find(bhttp::field::cache_control); cc != answer.Head().end())
      fetched.cache_control = std::string(cc->value());
    for (;;) {
      auto piece = co_await answer.ReadPiece();
      if (!piece && piece.error().code == Errc::kUpstreamTimeout) co_return TooSlow();
      if (!piece) co_return Unreachable("the document could not be read: " + piece.error().message);
      if (piece->empty()) break;
      if (fetched.body.size() + piece->size() > kMaxClientMetadataBytes) co_return Refused(too_big);
      fetched.body.append(*piece);
    }
    co_return fetched;
  }

  // One of the kMaxFetchesInFlight, given back when the fetch itself ends (not when the caller
  // stops waiting for it: one that outlives its 5 s still holds a connection).
  struct FetchSlot {
    explicit FetchSlot(std::shared_ptr<std::atomic<int>> count) : count(std::move(count)) {}
    FetchSlot(FetchSlot&&) = default;
    ~FetchSlot() {
      if (count) count->fetch_sub(1);
    }
    std::shared_ptr<std::atomic<int>> count;
  };

  struct Race {
    explicit Race(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    std::optional<Result<Fetched>> result;
  };

  static asio::awaitable<void> FetchInto(std::shared_ptr<http::HttpClient> client, Location at,
                                         std::shared_ptr<Race> race, [[maybe_unused]] FetchSlot slot) {
    auto fetched = co_await Fetch(std::move(client), std::move(at));
    race->result = std::move(fetched);
    race->timer.cancel();
  }

  // The fetch, given kClientMetadataTimeout in all (resolving, connecting, TLS, the answer). One
  // that takes longer goes on in the background until the client's own timeouts end it.
  asio::awaitable<Result<Fetched>> FetchInTime(const Location& at, FetchSlot slot) {
    auto executor = co_await asio::this_coro::executor;
    auto race = std::make_shared<Race>(executor);
    race->timer.expires_after(kClientMetadataTimeout);
    asio::co_spawn(executor, FetchInto(client, at, race, std::move(slot)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("fetching a client metadata document failed: {}", ex.what());
      }
    });
    if (!race->result) co_await race->timer.async_wait(kUseTuple);  // one I/O thread: no race with FetchInto
    if (!race->result) co_return TooSlow();
    co_return std::move(*race->result);
  }

  ClientMetadataOptions options;
  Clock clock;
  std::shared_ptr<http::HttpClient> client;
  std::mutex mutex;
  std::unordered_map<std::string, Cached> cache;
  std::shared_ptr<std::atomic<int>> in_flight = std::make_shared<std::atomic<int>>(0);
  domain::KeyedThrottle fetches_by_address{kFetchesPerAddress, api::Throttles::kWindowSeconds, api::Throttles::kMaxKeys};
};

ClientMetadataResolver::ClientMetadataResolver(ClientMetadataOptions options, Clock clock)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(clock))) {}
// Before the I/O threads' contexts end (the broker makes them first): a lookup still under way
// completes into its caller's context.
ClientMetadataResolver::~ClientMetadataResolver() { impl_->client->EndLookups(); }

bool ClientMetadataResolver::Enabled() const { return impl_->options.mode != ClientMetadataMode::kOff; }

asio::awaitable<Result<store::ClientRecord>> ClientMetadataResolver::Resolve(const std::string& url,
                                                                             std::string_view peer) {
  Impl& impl = *impl_;
  if (!Enabled())
    co_return Refused("this broker does not accept client_id URLs (client metadata documents are turned off): the "
                      "app must be registered");
  if (auto ok = CheckClientIdUrl(url); !ok) co_return Refused(ok.error().message);
  Location at = LocationOf(url);
  const auto& hosts = impl.options.allowed_hosts;
  if (impl.options.mode == ClientMetadataMode::kAllowList &&
      std::find(hosts.begin(), hosts.end(), at.host) == hosts.end())
    co_return Refused("apps described at " + at.host +
                      " are not accepted here: this broker only takes client metadata documents from the hosts its "
                      "operator listed");
  UnixSeconds now = impl.clock();
  if (auto cached = impl.Find(url, now)) co_return std::move(*cached);
  if (auto refused = api::ThrottleAddress(impl.fetches_by_address, peer, "app metadata fetches")) co_return *refused;
  if (impl.in_flight->fetch_add(1) >= kMaxFetchesInFlight) {
    impl.in_flight->fetch_sub(1);
    Error busy = MakeError(Errc::kUnavailable, "too many app metadata documents are being fetched; try again shortly");
    busy.retry_after_seconds = 5;
    co_return busy;
  }
  Impl::FetchSlot slot(impl.in_flight);
  auto fetched = co_await impl.FetchInTime(at, std::move(slot));
  auto described = [&]() -> Result<store::ClientRecord> {
    if (!fetched) return fetched.error();
    return ClientFromMetadata(url, fetched->body, now);
  }();
  if (!fetched && fetched.error().code == Errc::kUnavailable) {
    spdlog::info("client metadata document {} not fetched: {}", url, fetched.error().message);
    co_return Unreachable("the app's metadata document " + url + " could not be fetched now (" +
                          fetched.error().message + "); try again shortly");
  }
  if (!described) {
    spdlog::info("client metadata document {} refused: {}", url, described.error().message);
    co_return Refused("the app's metadata document " + url + " cannot be used: " + described.error().message);
  }
  impl.Keep(*described, now + CacheSeconds(fetched->cache_control), now);
  co_return std::move(*described);
}

asio::awaitable<Result<store::ClientRecord>> FindClient(api::BrokerContext& ctx, const std::string& client_id,
                                                        std::string_view peer) {
  if (IsClientIdUrl(client_id)) {
    if (!ctx.client_metadata) co_return Refused("this broker does not accept client_id URLs");
    co_return co_await ctx.client_metadata->Resolve(client_id, peer);
  }
  auto read = [client_id](store::Store& s) { return s.OAuth().GetClient(client_id); };
  auto client = co_await api::OnStore(ctx, std::move(read));
  if (!client && client.error().code == Errc::kNotFound) co_return MakeError(Errc::kNotFound, "unknown client_id");
  co_return client;
}

std::string ClientThrottleKey(const std::string& client_id) {
  if (!IsClientIdUrl(client_id)) return client_id;
  // The host without its port: one server listening on many ports would otherwise be as many apps.
  std::string terminated(client_id);  // Boost.URL 1.81 reads to a NUL (see http/cookies.cpp)
  auto url = boost::urls::parse_uri(terminated);
  return "host " + (url ? std::string(url->encoded_host()) : client_id);
}

bool VouchedFor(const store::ClientRecord& client, std::string_view owner_id) {
  return !client.self_registered && (client.registered_by.empty() || client.registered_by == owner_id);
}

}  // namespace ap::oauth
