#include "oauth/client_metadata.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <netdb.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

// getaddrinfo as this test binary has it: a name under stall.test waits until the test lets it go
// (a name server that never answers), then does not resolve; any other name is looked up as usual.
namespace stall {
std::mutex mutex;
std::condition_variable changed;
bool released = false;
int waiting = 0;
}  // namespace stall

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) noexcept {
  using Real = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "getaddrinfo"));
  if (node && std::string_view(node).ends_with(".stall.test")) {
    std::unique_lock lock(stall::mutex);
    ++stall::waiting;
    stall::changed.notify_all();
    stall::changed.wait(lock, [] { return stall::released; });
    return EAI_NONAME;
  }
  return real(node, service, hints, res);
}

namespace ap::oauth {
namespace {

namespace json = boost::json;
constexpr std::string_view kUrl = "https://notes.example/oauth/client.json";

std::string Document(json::object changes = {}, std::string_view url = kUrl) {
  json::object doc{{"client_id", url},
                   {"client_name", "Notes"},
                   {"client_uri", "https://notes.example"},
                   {"redirect_uris", json::array{"https://notes.example/callback", "http://127.0.0.1/cb"}},
                   {"token_endpoint_auth_method", "none"}};
  for (auto& [key, value] : changes) {
    if (value.is_null())
      doc.erase(key);
    else
      doc[key] = value;
  }
  return json::serialize(doc);
}

std::string Why(const Result<store::ClientRecord>& r) { return r ? "" : r.error().message; }

TEST(ClientMetadataTest, ClientIdUrlsAreHttpsInCanonicalFormWithAPath) {
  for (std::string_view ok : {"https://notes.example/client.json", "https://notes.example:8443/oauth/client",
                              "https://127.0.0.1:9443/c.json", "https://notes.example/c?v=2"})
    EXPECT_TRUE(CheckClientIdUrl(ok)) << ok;
  for (std::string_view bad :
       {"http://notes.example/client.json", "https://notes.example", "https://notes.example/",
        "https://notes.example/?x=1", "https://notes.example?x=1", "https://notes.example/client.json#frag", "https://u:p@notes.example/c",
        "https://notes.example/a/../c", "https://Notes.example/c", "https://notes.example:443/c",
        "HTTPS://notes.example/c", "https://notes.example/c d", "https://[2001:db8::1]/c"}) {
    auto checked = CheckClientIdUrl(bad);
    EXPECT_FALSE(checked) << bad;
    if (!checked) {
      EXPECT_EQ(checked.error().message.find("redirect URI"), std::string::npos) << checked.error().message;
    }
  }
  EXPECT_TRUE(IsClientIdUrl("https://notes.example/c"));
  EXPECT_TRUE(IsClientIdUrl("HTTP://notes.example/c"));
  EXPECT_FALSE(IsClientIdUrl("app_123"));
}

TEST(ClientMetadataTest, AValidDocumentIsAPublicUnverifiedClientNamedByItsUrl) {
  auto client = ClientFromMetadata(kUrl, Document({{"dpop_bound_access_tokens", true}}), 1000);
  ASSERT_TRUE(client) << Why(client);
  EXPECT_EQ(client->id, kUrl);
  EXPECT_EQ(client->name, "Notes");
  EXPECT_EQ(client->home_url, "https://notes.example");
  EXPECT_EQ(client->redirect_uris, (std::vector<std::string>{"https://notes.example/callback", "http://127.0.0.1/cb"}));
  EXPECT_FALSE(client->confidential);
  EXPECT_TRUE(client->secret_hash.empty());
  EXPECT_TRUE(client->self_registered) << "shown as unverified";
  EXPECT_TRUE(client->dpop_required);

  auto unnamed = ClientFromMetadata(kUrl, Document({{"client_name", nullptr}, {"token_endpoint_auth_method", nullptr}}), 0);
  ASSERT_TRUE(unnamed) << Why(unnamed);
  EXPECT_EQ(unnamed->name, "notes.example") << "an app without a name goes by its document's host";
}

TEST(ClientMetadataTest, TheDeviceGrantIsTheAppsOnlyIfItsGrantTypesNameIt) {
  EXPECT_FALSE(ClientFromMetadata(kUrl, Document({}), 0)->device_grant) << "none named: the code flow only";
  auto web =
      ClientFromMetadata(kUrl, Document({{"grant_types", json::array{"authorization_code", "refresh_token"}}}), 0);
  ASSERT_TRUE(web) << Why(web);
  EXPECT_FALSE(web->device_grant);
  auto tv = ClientFromMetadata(
      kUrl,
      Document({{"grant_types", json::array{"authorization_code", "urn:ietf:params:oauth:grant-type:device_code"}}}),
      0);
  ASSERT_TRUE(tv) << Why(tv);
  EXPECT_TRUE(tv->device_grant);
  for (const json::value& bad :
       {json::value("urn:ietf:params:oauth:grant-type:device_code"), json::value(json::array{1})}) {
    auto refused = ClientFromMetadata(kUrl, Document({{"grant_types", bad}}), 0);
    ASSERT_FALSE(refused) << json::serialize(bad);
    EXPECT_NE(Why(refused).find("grant_types"), std::string::npos) << Why(refused);
  }
}

TEST(ClientMetadataTest, TheClientIdMustBeTheUrlExactly) {
  for (std::string_view other : {"https://notes.example/oauth/client.json/", "https://NOTES.example/oauth/client.json",
                                 "https://evil.example/oauth/client.json", "https://notes.example/oauth/client.json?",
                                 ""}) {
    auto client = ClientFromMetadata(kUrl, Document({}, other), 0);
    ASSERT_FALSE(client) << other;
    EXPECT_NE(Why(client).find("client_id"), std::string::npos) << Why(client);
  }
  EXPECT_FALSE(ClientFromMetadata(kUrl, Document({{"client_id", 42}}), 0));
}

// The refusal quotes the document, and is logged and shown on the broker's error page: a newline
// in it would forge a log line, a bidirectional control reorder the page's sentence.
TEST(ClientMetadataTest, WhatARefusalQuotesOfTheDocumentIsPrintable) {
  std::string forged = "x\n2025-01-01 [warning] revoking grant g1: owner request\u202E";
  auto client = ClientFromMetadata(kUrl, Document({}, forged), 0);
  ASSERT_FALSE(client);
  EXPECT_EQ(Why(client).find('\n'), std::string::npos) << Why(client);
  EXPECT_EQ(Why(client).find("\u202E"), std::string::npos) << Why(client);
  EXPECT_NE(Why(client).find("x\\u{000A}2025-01-01"), std::string::npos) << Why(client);
  auto refused_uri = ClientFromMetadata(kUrl, Document({{"client_uri", "javascript:\r\nalert(1)"}}), 0);
  ASSERT_FALSE(refused_uri);
  EXPECT_EQ(Why(refused_uri).find_first_of("\r\n"), std::string::npos) << Why(refused_uri);
}

TEST(ClientMetadataTest, RefusesSecretsRedirectUrisAndTextThatARegisteredClientCouldNotHave) {
  struct Case {
    json::object changes;
    std::string_view says;
  };
  const Case cases[] = {
      {{{"client_secret", "s3cret"}}, "client_secret"},
      {{{"client_secret_expires_at", 0}}, "client_secret"},
      {{{"token_endpoint_auth_method", "client_secret_basic"}}, "public client"},
      {{{"token_endpoint_auth_method", "private_key_jwt"}}, "public client"},
      {{{"redirect_uris", nullptr}}, "redirect_uris"},
      {{{"redirect_uris", "https://notes.example/callback"}}, "redirect_uris"},
      {{{"redirect_uris", json::array{}}}, "redirect URI"},
      {{{"redirect_uris", json::array{1}}}, "redirect_uris"},
      {{{"redirect_uris", json::array{"http://notes.example/callback"}}}, "must be https"},
      {{{"redirect_uris", json::array{"https://notes.example/cb#x"}}}, "fragment"},
      {{{"client_name", std::string(201, 'a')}}, "name"},
      {{{"client_name", json::array{"Notes"}}}, "client_name"},
      {{{"client_uri", "javascript:alert(1)"}}, "not an http(s) URL"},
      {{{"logo_uri", "https://bank.example@evil.example/logo.png"}}, "not an http(s) URL"},
      {{{"dpop_bound_access_tokens", "yes"}}, "dpop_bound_access_tokens"},
  };
  for (const Case& c : cases) {
    auto client = ClientFromMetadata(kUrl, Document(c.changes), 0);
    ASSERT_FALSE(client) << json::serialize(c.changes);
    EXPECT_NE(Why(client).find(c.says), std::string::npos) << Why(client);
  }
  for (std::string_view body : {"", "[]", "\"https://notes.example/oauth/client.json\"", "{\"client_id\":", "null"})
    EXPECT_NE(Why(ClientFromMetadata(kUrl, body, 0)).find("not a JSON object"), std::string::npos) << body;
}

TEST(ClientMetadataTest, OnlyPublicAddressesAreFetchedFrom) {
  for (std::string_view pub : {"93.184.216.34", "8.8.8.8", "2606:4700::6810:85e5", "::ffff:93.184.216.34",
                               "64:ff9b::808:808", "2002:5db8:d822::1", "172.32.0.1", "100.128.0.1"})
    EXPECT_TRUE(IsPublicAddress(boost::asio::ip::make_address(pub))) << pub;
  for (std::string_view priv : {"127.0.0.1",
                                "127.255.255.254",
                                "10.1.2.3",
                                "172.16.0.1",
                                "172.31.255.255",
                                "192.168.1.1",
                                "169.254.169.254",
                                "100.64.0.1",
                                "0.0.0.0",
                                "0.1.2.3",
                                "224.0.0.1",
                                "255.255.255.255",
                                "240.0.0.1",
                                "198.18.0.1",
                                "192.0.2.1",
                                "::",
                                "::1",
                                "fe80::1",
                                "fc00::1",
                                "fd12:3456::1",
                                "ff02::1",
                                "::ffff:127.0.0.1",
                                "::ffff:169.254.169.254",
                                "::127.0.0.1",
                                "64:ff9b::a00:1",
                                "64:ff9b:1::1",
                                "2002:7f00:1::1",
                                "2002:c0a8:101::1",
                                "2001:db8::1",
                                "2001::1",
                                "fec0::1",
                                "100::1",
                                "::ffff:0:7f00:1",
                                "::ffff:0:a00:1"})
    EXPECT_FALSE(IsPublicAddress(boost::asio::ip::make_address(priv))) << priv;
}

TEST(ClientMetadataTest, CachedAsTheAnswerSaysWithinBounds) {
  EXPECT_EQ(CacheSeconds(""), kDefaultClientMetadataSeconds);
  EXPECT_EQ(CacheSeconds("public, max-age=3600"), 3600);
  EXPECT_EQ(CacheSeconds("Max-Age=\"7200\""), 7200);
  EXPECT_EQ(CacheSeconds("max-age=5"), kMinClientMetadataSeconds);
  EXPECT_EQ(CacheSeconds("max-age=0"), kMinClientMetadataSeconds);
  EXPECT_EQ(CacheSeconds("no-store"), kMinClientMetadataSeconds);
  EXPECT_EQ(CacheSeconds("max-age=600, no-cache"), kMinClientMetadataSeconds);
  EXPECT_EQ(CacheSeconds("max-age=31536000"), kMaxClientMetadataSeconds);
  EXPECT_EQ(CacheSeconds("max-age=99999999999999999999999"), kMaxClientMetadataSeconds);
  EXPECT_EQ(CacheSeconds("max-age=abc"), kDefaultClientMetadataSeconds);
}

// Resolves `url` with `resolver` for a caller at `peer`, on a private io_context.
Result<store::ClientRecord> ResolveOn(ClientMetadataResolver& resolver, const std::string& url,
                                      std::string_view peer = "192.0.2.1") {
  boost::asio::io_context io;
  std::optional<Result<store::ClientRecord>> got;
  boost::asio::co_spawn(io, resolver.Resolve(url, peer), [&](std::exception_ptr e, Result<store::ClientRecord> r) {
    if (e) std::rethrow_exception(e);
    got = std::move(r);
  });
  io.run();
  return std::move(got.value());
}

Result<store::ClientRecord> ResolveWith(ClientMetadataOptions options, const std::string& url) {
  ClientMetadataResolver resolver(std::move(options), [] { return UnixSeconds{1000}; });
  return ResolveOn(resolver, url);
}

TEST(ClientMetadataTest, TheOperatorsChoicesAndPrivateAddressesAreRefusedBeforeAnyByteIsSent) {
  ClientMetadataOptions off;
  off.mode = ClientMetadataMode::kOff;
  EXPECT_NE(Why(ResolveWith(off, std::string(kUrl))).find("turned off"), std::string::npos);

  ClientMetadataOptions listed;
  listed.mode = ClientMetadataMode::kAllowList;
  listed.allowed_hosts = {"apps.example"};
  EXPECT_NE(Why(ResolveWith(listed, std::string(kUrl))).find("not accepted here"), std::string::npos);

  ClientMetadataOptions any;
  EXPECT_NE(Why(ResolveWith(any, "http://notes.example/c")).find("https"), std::string::npos);
  // Port 9 on loopback: had it been connected to, the error would be a refused connection.
  for (std::string url : {"https://127.0.0.1:9/client.json", "https://10.0.0.1:9/client.json"}) {
    std::string why = Why(ResolveWith(any, url));
    EXPECT_NE(why.find("private, loopback or link-local"), std::string::npos) << why;
  }
  any.allow_private_addresses = true;
  auto unreachable = ResolveWith(any, "https://127.0.0.1:9/client.json");
  ASSERT_FALSE(unreachable);
  std::string why = Why(unreachable);
  EXPECT_NE(why.find("could not be fetched"), std::string::npos) << why;
  // Not the app's fault, and maybe gone at the next try: the app hears 503 and tries again, rather
  // than 401 invalid_client, which a device or a refreshing app takes for good.
  EXPECT_EQ(unreachable.error().code, Errc::kUnavailable);
  EXPECT_GT(unreachable.error().retry_after_seconds, 0);
}

TEST(ClientMetadataTest, OneAddressCannotMakeTheBrokerFetchWithoutEnd) {
  ClientMetadataOptions any;
  any.allow_private_addresses = true;
  ClientMetadataResolver resolver(any, [] { return UnixSeconds{1000}; });
  // Each URL a new one (nothing cached), each fetch failing at once on a closed loopback port.
  for (int64_t i = 0; i < ClientMetadataResolver::kFetchesPerAddress; ++i) {
    std::string url = "https://127.0.0.1:9/client-" + std::to_string(i) + ".json";
    EXPECT_NE(Why(ResolveOn(resolver, url, "198.51.100.7")).find("could not be fetched"), std::string::npos) << i;
  }
  auto throttled = ResolveOn(resolver, "https://127.0.0.1:9/one-more.json", "198.51.100.7");
  ASSERT_FALSE(throttled);
  EXPECT_EQ(throttled.error().code, Errc::kRateLimited);
  EXPECT_GT(throttled.error().retry_after_seconds, 0);
  // Another address is not held up by it.
  EXPECT_NE(Why(ResolveOn(resolver, "https://127.0.0.1:9/one-more.json", "198.51.100.8")).find("could not be fetched"),
            std::string::npos);
}

// Asio looks names up one at a time per context: a document's name whose server never answers,
// looked up on the I/O thread's context, held up every lookup of that thread behind it (the
// providers' too) for as long as it took.
TEST(ClientMetadataTest, ANameWhoseServerNeverAnswersHoldsUpNoLookupOfTheIoThread) {
  ClientMetadataResolver resolver(ClientMetadataOptions{}, [] { return UnixSeconds{1000}; });
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  const std::string url = "https://a.stall.test/c.json";  // Resolve's coroutine holds it by reference
  boost::asio::co_spawn(io, resolver.Resolve(url, "192.0.2.1"), boost::asio::detached);
  std::thread thread([&] { io.run(); });
  struct LetGo {  // however the test ends: the stalled lookup goes on, the thread ends
    std::thread& thread;
    decltype(work)& guard;
    ~LetGo() {
      {
        std::lock_guard lock(stall::mutex);
        stall::released = true;
        stall::changed.notify_all();
      }
      guard.reset();
      thread.join();
    }
  } let_go{thread, work};
  {
    std::unique_lock lock(stall::mutex);
    ASSERT_TRUE(stall::changed.wait_for(lock, std::chrono::seconds(10), [] { return stall::waiting == 1; }))
        << "the document's name was never looked up";
  }
  boost::asio::ip::tcp::resolver own(io);
  bool resolved = false;
  own.async_resolve("localhost", "80", [&](const boost::system::error_code&, auto) {
    std::lock_guard lock(stall::mutex);
    resolved = true;
    stall::changed.notify_all();
  });
  {
    std::unique_lock lock(stall::mutex);
    EXPECT_TRUE(stall::changed.wait_for(lock, std::chrono::seconds(10), [&] { return resolved; }))
        << "the I/O thread's own lookup waited behind the stalled one";
  }
}

TEST(ClientMetadataTest, ClientsDescribedByURLsAreThrottledByTheirHost) {
  EXPECT_EQ(ClientThrottleKey("https://apps.example/a.json"), ClientThrottleKey("https://apps.example/b.json"));
  EXPECT_NE(ClientThrottleKey("https://apps.example/a.json"), ClientThrottleKey("https://other.example/a.json"));
  EXPECT_EQ(ClientThrottleKey("https://apps.example:1001/a.json"),
            ClientThrottleKey("https://apps.example:1002/a.json"))
      << "one server on many ports is one app";
  EXPECT_EQ(ClientThrottleKey("registered-client-id"), "registered-client-id");
}

}  // namespace
}  // namespace ap::oauth
