#include "http/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace ap::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using asio::ip::tcp;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

namespace {

struct Connection {
  std::string key;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  beast::tcp_stream& Tcp() { return plain ? *plain : beast::get_lowest_layer(*secure); }
};

struct ExchangeOutcome {
  beast::error_code ec;
  bool answer_started = false;  // some of the response was read: never retry
  Response response;
};

template <class Stream>
asio::awaitable<ExchangeOutcome> ExchangeOn(Stream& stream, beast::flat_buffer& buffer, Request& request,
                                            size_t limit) {
  ExchangeOutcome out;
  auto [write_ec, written] = co_await bhttp::async_write(stream, request, kUseTuple);
  if (write_ec) {
    out.ec = write_ec;
    co_return out;
  }
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(limit);
  auto [read_ec, read] = co_await bhttp::async_read(stream, buffer, parser, kUseTuple);
  out.ec = read_ec;
  out.answer_started = parser.got_some();
  if (!read_ec) out.response = parser.release();
  co_return out;
}

Error Describe(const beast::error_code& ec, const Origin& origin, const char* stage) {
  if (ec == beast::error::timeout)
    return MakeError(Errc::kUpstreamTimeout, std::string("upstream ") + origin.host + " timed out (" + stage + ")");
  if (ec == bhttp::error::body_limit) return MakeError(Errc::kUpstream, "upstream answer is too large");
  return MakeError(Errc::kUpstream,
                   std::string("upstream ") + origin.host + " failed (" + stage + "): " + ec.message());
}

}  // namespace

struct HttpClient::Impl {
  explicit Impl(ClientOptions options) : options(std::move(options)), tls(ssl::context::tls_client) {
    tls.set_default_verify_paths();
    tls.set_verify_mode(ssl::verify_peer);
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (!this->options.ca_file.empty()) tls.load_verify_file(this->options.ca_file);
  }

  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = idle.find(key);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto conn = std::move(it->second.back());
    it->second.pop_back();
    return conn;
  }

  void ReturnIdle(std::unique_ptr<Connection> conn) {
    conn->Tcp().expires_never();
    std::lock_guard lock(mutex);
    auto& list = idle[conn->key];
    if (list.size() < options.max_idle_per_origin) list.push_back(std::move(conn));
  }

  // Connections are pooled per origin and per I/O thread: one is only reused on the thread that made it.
  static std::string PoolKey(const Origin& origin, const asio::any_io_executor& executor) {
    const void* context = &asio::query(executor, asio::execution::context);
    return origin.Key() + "@" + std::to_string(reinterpret_cast<uintptr_t>(context));
  }

  asio::awaitable<Result<std::unique_ptr<Connection>>> Connect(const Origin& origin, asio::any_io_executor executor,
                                                               std::string key) {
    auto conn = std::make_unique<Connection>();
    conn->key = std::move(key);
    tcp::resolver resolver(executor);
    auto [resolve_ec, endpoints] = co_await resolver.async_resolve(origin.host, origin.port, kUseTuple);
    if (resolve_ec) co_return Describe(resolve_ec, origin, "resolve");
    if (origin.tls)
      conn->secure.emplace(executor, tls);
    else
      conn->plain.emplace(executor);
    beast::tcp_stream& tcp_stream = conn->Tcp();
    tcp_stream.expires_after(options.connect_timeout);
    auto [connect_ec, ep] = co_await tcp_stream.async_connect(endpoints, kUseTuple);
    if (connect_ec) co_return Describe(connect_ec, origin, "connect");
    tcp_stream.socket().set_option(tcp::no_delay(true));
    if (origin.tls) {
      SSL* handle = conn->secure->native_handle();
      if (!SSL_set_tlsext_host_name(handle, origin.host.c_str()))
        co_return MakeError(Errc::kUpstream, "cannot set TLS server name for " + origin.host);
      conn->secure->set_verify_callback(ssl::host_name_verification(origin.host));
      auto [hs_ec] = co_await conn->secure->async_handshake(ssl::stream_base::client, kUseTuple);
      if (hs_ec) co_return Describe(hs_ec, origin, "TLS handshake");
    }
    co_return std::move(conn);
  }

  asio::awaitable<ExchangeOutcome> Exchange(Connection& conn, Request& request) {
    conn.Tcp().expires_after(options.request_timeout);
    if (conn.secure) co_return co_await ExchangeOn(*conn.secure, conn.buffer, request, options.response_limit);
    co_return co_await ExchangeOn(*conn.plain, conn.buffer, request, options.response_limit);
  }

  ClientOptions options;
  ssl::context tls;
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
};

HttpClient::HttpClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

asio::awaitable<Result<Response>> HttpClient::Send(const Origin& origin, Request request) {
  request.set(bhttp::field::host, origin.HostHeader());
  request.keep_alive(true);
  request.prepare_payload();
  auto executor = co_await asio::this_coro::executor;
  std::string key = Impl::PoolKey(origin, executor);
  auto conn = impl_->TakeIdle(key);
  bool reused = conn != nullptr;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn) {
      auto fresh = co_await impl_->Connect(origin, executor, key);
      if (!fresh) co_return fresh.error();
      conn = std::move(*fresh);
      reused = false;
    }
    ExchangeOutcome out = co_await impl_->Exchange(*conn, request);
    if (!out.ec) {
      if (out.response.keep_alive()) impl_->ReturnIdle(std::move(conn));
      co_return std::move(out.response);
    }
    if (!reused || out.answer_started || out.ec == beast::error::timeout)
      co_return Describe(out.ec, origin, "exchange");
    conn.reset();  // a stale pooled connection: try once more on a new one
  }
  co_return MakeError(Errc::kUpstream, "upstream " + origin.host + " failed");
}

}  // namespace ap::http
