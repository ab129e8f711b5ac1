#pragma once
// The upstream HTTP client: HTTP and HTTPS (verified certificates, SNI) with pooled keep-alive
// connections per origin. A request that fails on a reused connection before any answer arrived
// is retried once on a fresh one (the upstream closed an idle connection).
// Thread-safety: Send may be called from any coroutine on any thread; it runs on the caller's executor.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "http/message.hpp"
#include "http/url.hpp"

namespace ap::http {

struct ClientOptions {
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds request_timeout{600};  // whole exchange; model calls can be slow
  size_t max_idle_per_origin = 64;
  size_t response_limit = 64 << 20;
  std::string ca_file;  // extra trust anchors (PEM), on top of the system's
};

class HttpClient {
 public:
  // Fails (throws) only if the TLS context cannot be set up: a startup error.
  explicit HttpClient(ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // The request target must already be the full path (with the origin's prefix); Host is set here.
  boost::asio::awaitable<Result<Response>> Send(const Origin& origin, Request request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ap::http
