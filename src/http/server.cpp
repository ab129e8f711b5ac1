#include "http/server.hpp"

#include <spdlog/spdlog.h>
#include <poll.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <type_traits>

#include "http/deadline.hpp"
#include "http/fields.hpp"
#include "http/response.hpp"
#include "http/wire.hpp"

namespace ap::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// The most of a request held unparsed at once.
constexpr size_t kMaxBuffered = 1 << 20;

// A year: browsers that once reached the broker over HTTPS refuse plain HTTP to it from then on.
// No includeSubDomains: the broker cannot speak for other hosts under its name.
constexpr std::string_view kStrictTransportSecurity = "max-age=31536000";

// The certificate and key in use, replaced whole when their files change. A connection holds the
// context it started with, so a reload never touches a handshake under way.
class TlsCredentials {
 public:
  TlsCredentials(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

  // Loads the pair; on failure what was in use stays and the error says why.
  Status Load() {
    std::string stamp = Stamp();
    auto context = LoadContext();
    std::lock_guard lock(mutex_);
    stamp_ = std::move(stamp);
    if (!context) return context.error();
    context_ = std::move(*context);
    return {};
  }

  // Loads again if either file changed since the last attempt (one log line per change, not per check).
  void ReloadIfChanged() {
    std::string stamp = Stamp();  // the file system is asked outside the lock accepts take
    bool changed;
    {
      std::lock_guard lock(mutex_);
      changed = stamp != stamp_;
    }
    if (changed) Reload("the files changed");
  }

  void Reload(std::string_view why) {
    if (auto loaded = Load(); !loaded)
      spdlog::warn("TLS: kept the certificate in use ({}): {}", why, loaded.error().message);
    else
      spdlog::info("TLS: loaded the certificate and key again from {} and {} ({})", cert_file_, key_file_, why);
  }

  std::shared_ptr<asio::ssl::context> Current() const {
    std::lock_guard lock(mutex_);
    return context_;
  }

 private:
  // Which versions of the two files are there: a renewal replaces a file or rewrites it.
  std::string Stamp() const {
    std::string stamp;
    for (const std::string* file : {&cert_file_, &key_file_}) {
      struct stat st {};
      if (::stat(file->c_str(), &st) != 0) {
        stamp += "missing;";
        continue;
      }
      stamp += fmt::format("{}:{}:{}:{}.{};", st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    }
    return stamp;
  }

  Result<std::shared_ptr<asio::ssl::context>> LoadContext() const {
    auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                     asio::ssl::context::single_dh_use);
    beast::error_code ec;
    tls->use_certificate_chain_file(cert_file_, ec);
    if (ec) return MakeError(Errc::kBadRequest, "cannot use the certificate in " + cert_file_ + ": " + ec.message());
    tls->use_private_key_file(key_file_, asio::ssl::context::pem, ec);
    if ((ec && ec.message().find("mismatch") != std::string::npos) ||
        (!ec && SSL_CTX_check_private_key(tls->native_handle()) != 1))
      return MakeError(Errc::kBadRequest, "the private key in " + key_file_ + " does not match the certificate");
    if (ec) return MakeError(Errc::kBadRequest, "cannot use the private key in " + key_file_ + ": " + ec.message());
    return tls;
  }

  const std::string cert_file_;
  const std::string key_file_;
  mutable std::mutex mutex_;
  std::shared_ptr<asio::ssl::context> context_;
  std::string stamp_;
};

namespace {

// What every answer carries: the server's name and, over HTTPS, Strict-Transport-Security.
template <class Stream>
void StampAnswer(Response& head, const ServerOptions& options) {
  head.set(bhttp::field::server, options.server_name);
  if constexpr (!std::is_same_v<Stream, tcp::socket>)
    head.set(bhttp::field::strict_transport_security, kStrictTransportSecurity);
}

// The same, as the lines of a head written as bytes.
template <class Stream>
void AppendStamp(const ServerOptions& options, std::string& out) {
  out.append("Server: ").append(options.server_name).append("\r\n");
  if constexpr (!std::is_same_v<Stream, tcp::socket>)
    out.append("Strict-Transport-Security: ").append(kStrictTransportSecurity).append("\r\n");
}

asio::awaitable<void> ReloadOnChange(std::shared_ptr<TlsCredentials> tls, std::chrono::milliseconds interval,
                                     std::shared_ptr<std::atomic<bool>> stopping) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stopping->load()) {
    timer.expires_after(interval);
    co_await timer.async_wait(kUseTuple);
    if (!stopping->load()) tls->ReloadIfChanged();
  }
}

asio::awaitable<void> ReloadOnHangup(std::shared_ptr<TlsCredentials> tls, std::shared_ptr<asio::signal_set> hangup) {
  for (;;) {
    auto [ec, signal] = co_await hangup->async_wait(kUseTuple);
    if (ec) co_return;
    if (tls)
      tls->Reload("SIGHUP");
    else
      spdlog::info("SIGHUP: this listener serves plain HTTP, with no certificate to load again");
  }
}

constexpr const char* kFramedSoundly =
    "A request body is framed by Content-Length, or by Transfer-Encoding: chunked alone (HTTP version 1.1)";

// What a request that could not be read gets: a JSON answer where the protocol allows one.
std::optional<Error> ReadFailureAnswer(const beast::error_code& ec) {
  if (ec == bhttp::error::body_limit) return MakeError(Errc::kPayloadTooLarge, "Request body is too large");
  if (ec == bhttp::error::header_limit) return MakeError(Errc::kHeadersTooLarge, "Request headers are too large");
  if (ec == bhttp::error::bad_transfer_encoding) return MakeError(Errc::kBadRequest, kFramedSoundly);
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
    return MakeError(Errc::kBadRequest, "Malformed HTTP request");
  return std::nullopt;
}

void LogHandlerException(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("connection ended by an exception: {}", ex.what());
  }
}

// Whether a request's Transfer-Encoding, if it has one, frames its body as this server reads it:
// HTTP/1.1 and the one coding chunked (RFC 9112 §6.1, §6.3). Beast's parser reads a request whose
// codings do not end in chunked as one without a body, so that its body would be read as the next
// request (a desync with a proxy in front that reads it otherwise), and takes chunked in HTTP/1.0.
bool FramedSoundly(const RequestHead& request) {
  auto [first, end] = request.equal_range(bhttp::field::transfer_encoding);
  if (first == end) return true;
  if (std::next(first) != end || request.version() != 11) return false;
  return beast::iequals(TrimBlanks(first->value()), "chunked");
}

// Why a request's head is refused before its body is read, if it is: HTTP/1.0 and 1.1 only (Beast
// reads any "HTTP/d.d"), one Host field, which HTTP/1.1 requires (RFC 9112 §3.2: two could name two
// origins to the origin check and to a proxy in front), and a sound framing.
std::optional<Error> RefusedHead(const RequestHead& request) {
  if (request.version() != 10 && request.version() != 11)
    return MakeError(Errc::kBadRequest, "Only HTTP/1.0 and HTTP/1.1 are served");
  auto [host, end] = request.equal_range(bhttp::field::host);
  if (host == end ? request.version() == 11 : std::next(host) != end)
    return MakeError(Errc::kBadRequest, "An HTTP/1.1 request names its host in one Host field");
  if (!FramedSoundly(request)) return MakeError(Errc::kBadRequest, kFramedSoundly);
  return std::nullopt;
}

size_t FieldCount(const RequestHead& request) { return std::distance(request.begin(), request.end()); }

// Whether the client asks to keep the connection: in HTTP/1.1 unless a Connection field says close,
// in HTTP/1.0 only when one says keep-alive (and none close). Every Connection field counts, not
// only the first (as the message's keep_alive() reads, looking it up again by name); Proxy-Connection,
// which old proxies pass on blindly, does not (Beast's parser counts it).
bool ClientKeepsAlive(const RequestHead& request) {
  bool close = false, keep = false;
  for (const auto& field : request) {
    if (field.name() != bhttp::field::connection) continue;
    for (std::string_view option : bhttp::token_list(field.value())) {
      close = close || beast::iequals(option, "close");
      keep = keep || beast::iequals(option, "keep-alive");
    }
  }
  return !close && (request.version() >= 11 || keep);
}

// An HTTP/1.0 client's 100-continue is ignored: a 1xx is never sent to one (RFC 9110, 10.1.1 and
// 15.2), which sends its body without waiting for it.
bool WantsContinue(const RequestHead& request) {
  if (request.version() < 11) return false;
  auto it = request.find(bhttp::field::expect);
  return it != request.end() && beast::iequals(it->value(), "100-continue");
}

// The exchange of one request on a connection. It reads a streamed request body from the
// connection's parser and writes a chunked or whole answer straight to the socket. The
// connection's deadline is armed with the read timeout around each read and write only, so a
// client that stalls is dropped while a stream may pause as long as the model thinks.
template <class Stream>
class SessionExchange final : public Exchange {
 public:
  SessionExchange(Stream& stream, Deadline& deadline, beast::flat_buffer& buffer, const ServerOptions& options)
      : stream_(stream), deadline_(deadline), buffer_(buffer), options_(options) {}

  void SetBodyParser(bhttp::request_parser<bhttp::buffer_body>* parser) { body_parser_ = parser; }
  // The client waits for 100 Continue before it sends the body (Expect: 100-continue): sent when
  // the handler first reads it, so a call refused before that (no token) never invites one.
  void SetContinuePending() { continue_pending_ = true; }
  bool BodyLeftUnread() const { return body_parser_ && !body_parser_->is_done(); }
  // Reads and drops what the handler left of a streamed body, so a client still sending it can
  // read the answer (it would see a reset otherwise): up to kMostDrained bytes, and no read begun
  // a read timeout after the first. A body left longer than that is not waited for: its answer
  // closes the connection (and the lingering close reads a little more).
  asio::awaitable<void> DrainBody() {
    if (continue_pending_) co_return;  // the client was never asked for its body
    static constexpr size_t kMostDrained = 1 << 20;
    auto until = std::chrono::steady_clock::now() + options_.read_timeout;
    for (size_t drained = 0; drained < kMostDrained && std::chrono::steady_clock::now() < until;) {
      auto piece = co_await ReadBodyPiece();
      if (!piece || piece->empty()) co_return;
      drained += piece->size();
    }
  }
  bool AnswerEnded() const { return ended_; }
  // Whether the answer started ends with the connection (to an HTTP/1.0 client), which then closes.
  bool EndsWithConnection() const { return until_close_; }
  // `keep_alive`: the client's wish; `to_head`: the request was HEAD, so the answer's head goes
  // without its body; `stopping`: read as the head is written, so that an answer written once the
  // server began to stop says it closes the connection.
  void SetAnswerShape(unsigned version, bool keep_alive, bool to_head, const std::atomic<bool>* stopping) {
    stopping_ = stopping;
    version_ = version;
    keep_alive_ = keep_alive;
    answers_head_ = to_head;
  }

  asio::awaitable<Result<std::string_view>> ReadBodyPiece() override {
    if (!body_parser_) co_return std::string_view();
    if (continue_pending_) {
      continue_pending_ = false;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      Deadline::Wait wait(deadline_, options_.read_timeout);
      auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(kContinue), kUseTuple);
      if (ec) co_return MakeError(Errc::kBadRequest, "The request body could not be read: " + ec.message());
    }
    while (!body_parser_->is_done()) {
      auto& body = body_parser_->get().body();
      if (!piece_) piece_ = std::make_unique_for_overwrite<char[]>(kPieceSize);
      body.data = piece_.get();
      body.size = kPieceSize;
      auto allowed = UploadTimeLeft();
      if (allowed <= std::chrono::steady_clock::duration::zero())
        co_return MakeError(Errc::kBadRequest, "The request body came too slowly (under " +
                                                   std::to_string(options_.min_upload_rate) + " bytes a second)");
      Deadline::Wait wait(deadline_, allowed);
      auto began = std::chrono::steady_clock::now();
      auto [ec, n] = co_await bhttp::async_read_some(stream_, buffer_, *body_parser_, kUseTuple);
      waited_ += std::chrono::steady_clock::now() - began;
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec == bhttp::error::body_limit) co_return MakeError(Errc::kPayloadTooLarge, "Request body is too large");
      if (ec) co_return MakeError(Errc::kBadRequest, "The request body could not be read: " + ec.message());
      size_t got = kPieceSize - body.size;
      body_read_ += got;
      if (got > 0) co_return std::string_view(piece_.get(), got);
    }
    co_return std::string_view();
  }

  void StartAnswer(AnswerHead& head) override {
    no_body_ = answers_head_ || HasNoBody(head.status);
    // An HTTP/1.0 client reads no chunks (RFC 9112, 6.1): the body goes as it is, and the
    // connection's end is its end.
    until_close_ = version_ < 11;
    held_head_.clear();
    AppendAnswerHead(head, std::nullopt, KeepsConnection() && !until_close_, held_head_);
    started_ = true;
  }

  asio::awaitable<Status> Flush() override { return Write({}, false); }

  asio::awaitable<Status> WritePiece(std::string_view data) override { return Write(data, false); }

  asio::awaitable<Status> EndAnswer(std::string_view last) override {
    Status written = co_await Write(last, true);
    ended_ = static_cast<bool>(written);
    co_return written;
  }

  asio::awaitable<Status> SendAnswer(AnswerHead& head, std::string_view body) override {
    no_body_ = answers_head_ || HasNoBody(head.status);
    std::string& out = held_head_;  // nothing is held: a whole answer starts nothing before it
    out.clear();
    // To HEAD, the length the body has; then none of it is sent.
    AppendAnswerHead(head, body.size(), KeepsConnection() && !BodyLeftUnread(), out);
    if (no_body_) body = {};
    started_ = true;
    std::array<asio::const_buffer, 2> pieces{asio::buffer(out), asio::buffer(body.data(), body.size())};
    Deadline::Wait wait(deadline_, options_.read_timeout);
    last_write_waited_ = {};
    auto [ec, n] = SendWithoutWaiting(stream_, pieces);  // usually all of it (WriteRest says why)
    if (!ec && n < out.size() + body.size()) std::tie(ec, n) = co_await TimedWriteRest(pieces, n);
    out.clear();
    ended_ = !ec;
    co_return Checked(ec);
  }

  bool AnswerStarted() const override { return started_; }

  std::string PeerAddress() const override {
    beast::error_code ec;
    auto peer = beast::get_lowest_layer(stream_).remote_endpoint(ec);
    return ec ? std::string() : peer.address().to_string();
  }

  // The peer's FIN (or a reset) shows as POLLRDHUP even behind bytes not read yet (a TLS
  // close_notify, a pipelined request).
  bool ClientLeft() const override {
    if (writing_) return false;
    auto& socket = beast::get_lowest_layer(stream_);
    if (!socket.is_open()) return true;
    pollfd fd{socket.native_handle(), POLLRDHUP, 0};
    return ::poll(&fd, 1, 0) == 1 && (fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

  std::chrono::milliseconds LastWriteWaited() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(last_write_waited_);
  }

 private:
  // The rest of a write the socket did not take at once, timed (LastWriteWaited), and marked as
  // under way (ClientLeft) however it ends.
  template <class Buffers>
  asio::awaitable<std::tuple<beast::error_code, size_t>> TimedWriteRest(const Buffers& buffers, size_t sent) {
    struct Timed {
      SessionExchange& exchange;
      std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();
      explicit Timed(SessionExchange& e) : exchange(e) { exchange.writing_ = true; }
      ~Timed() {
        exchange.writing_ = false;
        exchange.last_write_waited_ = std::chrono::steady_clock::now() - began;
      }
    } timed(*this);
    co_return co_await WriteRest(stream_, buffers, sent);
  }

  // How long the next read of the body may wait: the read timeout, within what the body has earned
  // (the read timeout, and a second for each min_upload_rate bytes) less what its reads waited so
  // far (the time the broker spends between them is not the client's).
  std::chrono::steady_clock::duration UploadTimeLeft() const {
    auto earned = std::chrono::microseconds(
        static_cast<int64_t>(body_read_ * 1'000'000 / std::max<size_t>(options_.min_upload_rate, 1)));
    std::chrono::steady_clock::duration left = options_.read_timeout + earned - waited_;
    return std::min<std::chrono::steady_clock::duration>(options_.read_timeout, left);
  }

  // Appends the whole head: the status line, `head`'s fields, the server's own, the framing of a
  // body of `length` (chunked without one, none for one that ends with the connection), and
  // Connection as the version needs it to say `keep`.
  void AppendAnswerHead(const AnswerHead& head, std::optional<uint64_t> length, bool keep, std::string& out) const {
    // Room for it all at once (the lines below the fields take under kOwnLines bytes): grown line
    // by line, the head took three allocations a call.
    constexpr size_t kOwnLines = 256;
    out.reserve(out.size() + head.fields.size() + options_.server_name.size() + kOwnLines);
    AppendStatusLine(version_, head.status, bhttp::obsolete_reason(bhttp::int_to_status(head.status)), out);
    out += head.fields;
    AppendStamp<Stream>(options_, out);
    if (!HasNoBody(head.status) && !until_close_) AppendFraming(length, out);
    if (version_ >= 11 && !keep) out += "Connection: close\r\n";
    if (version_ < 11 && keep) out += "Connection: keep-alive\r\n";
    out += "\r\n";
  }

  bool KeepsConnection() const { return keep_alive_ && !stopping_->load(); }

  static Status Checked(const beast::error_code& ec) {
    if (ec) return MakeError(Errc::kUnavailable, "the client went away: " + ec.message());
    return {};
  }

  // An answer that has no body (a 204, a 304) says no length and sends none, whatever its handler
  // gives (RFC 9110, 8.6): bytes after its head would be read as the start of the next answer.
  static bool HasNoBody(unsigned status) { return status == 204 || status == 304; }

  // One write: the head if it is held, `data` as a chunk unless empty, then the last chunk if `last`
  // (none of them but the head for an answer that has no body; `data` as it is for one that ends
  // with the connection).
  asio::awaitable<Status> Write(std::string_view data, bool last) {
    static constexpr std::string_view kCrlf = "\r\n", kLastChunk = "0\r\n\r\n";
    if (no_body_) {
      data = {};
      last = false;
    }
    if (held_head_.empty() && data.empty() && !last) co_return Status{};
    std::array<asio::const_buffer, 5> buffers;
    size_t count = 0;
    auto add = [&](const void* bytes, size_t size) {
      if (size > 0) buffers[count++] = asio::const_buffer(bytes, size);
    };
    add(held_head_.data(), held_head_.size());
    char size_line[20];  // the chunk's size in hex, then CRLF
    if (until_close_) {
      add(data.data(), data.size());
    } else if (!data.empty()) {
      char* size_end = std::to_chars(size_line, size_line + 16, data.size(), 16).ptr;
      size_end = std::copy(kCrlf.begin(), kCrlf.end(), size_end);
      add(size_line, size_end - size_line);
      add(data.data(), data.size());
      add(kCrlf.data(), kCrlf.size());
    }
    if (last && !until_close_) add(kLastChunk.data(), kLastChunk.size());
    std::span<const asio::const_buffer> used(buffers.data(), count);
    Deadline::Wait wait(deadline_, options_.read_timeout);
    last_write_waited_ = {};
    auto [ec, n] = SendWithoutWaiting(stream_, used);  // usually all of it (WriteRest says why)
    if (!ec && n < beast::buffer_bytes(used)) std::tie(ec, n) = co_await TimedWriteRest(used, n);
    held_head_.clear();
    co_return Checked(ec);
  }

  Stream& stream_;
  // Armed around each read and write only: a stream may pause as long as the model thinks.
  Deadline& deadline_;
  beast::flat_buffer& buffer_;
  const ServerOptions& options_;
  unsigned version_ = 11;
  bhttp::request_parser<bhttp::buffer_body>* body_parser_ = nullptr;
  bool continue_pending_ = false;
  size_t body_read_ = 0;                          // of a streamed body
  std::chrono::steady_clock::duration waited_{};  // by its reads
  std::chrono::steady_clock::duration last_write_waited_{};  // LastWriteWaited
  bool writing_ = false;                                     // a write waits on the client (ClientLeft)
  bool keep_alive_ = true;
  const std::atomic<bool>* stopping_ = nullptr;
  bool started_ = false;
  bool ended_ = false;
  bool answers_head_ = false;  // the request was HEAD: its answer is a head alone
  bool no_body_ = false;       // the answer started is one that sends no body
  bool until_close_ = false;   // the answer started ends with the connection
  std::string held_head_;  // of an answer started, until its first write
  // Where a streamed body (an upload) is read piece by piece; made at its first piece. Not an array
  // here: the exchange lives in every request's coroutine frame, which an array made 18 KB rather
  // than under 2 KB, for every request.
  static constexpr size_t kPieceSize = 16 << 10;
  std::unique_ptr<char[]> piece_;
};

// Ends a plain connection as nginx's lingering close does: our side first, then what the client
// still sends is read and dropped for a moment. Closing a socket with unread bytes makes the kernel
// reset the connection, and a client still writing a refused body (a 400 or 413 sent mid-upload)
// would then see the reset instead of the answer already sent to it.
asio::awaitable<void> LingeringClose(tcp::socket& socket, Deadline& deadline) {
  constexpr auto kLinger = std::chrono::seconds(2);
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  deadline.Arm(kLinger);
  // What is read is dropped, so connections lingering on one thread share this buffer.
  thread_local char sink[4096];
  for (;;) {
    auto [read_ec, n] = co_await socket.async_read_some(asio::buffer(sink), kUseTuple);
    if (read_ec) co_return;  // the client closed, or the linger ran out
  }
}

struct InFlightGuard {
  explicit InFlightGuard(std::atomic<size_t>& n) : n_(n) { ++n_; }
  ~InFlightGuard() { --n_; }
  std::atomic<size_t>& n_;
};

}  // namespace

Server::Server(IoPool& io, ServerOptions options, Handler handler, StreamsBody streams_body)
    : io_(io),
      options_(std::move(options)),
      handler_(std::move(handler)),
      streams_body_(std::move(streams_body)),
      acceptor_(io.First()) {}

Server::~Server() = default;

Status Server::Listen() {
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty())
      return MakeError(Errc::kBadRequest, "serving HTTPS needs both a certificate file and a key file");
    auto tls = std::make_shared<TlsCredentials>(options_.tls_cert_file, options_.tls_key_file);
    if (auto loaded = tls->Load(); !loaded) return loaded;
    tls_ = std::move(tls);
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec) return MakeError(Errc::kBadRequest, "invalid listen address '" + options_.host + "'");
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return MakeError(Errc::kUnavailable,
                     "cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " + ec.message());
  return {};
}

bool Server::ServesTls() const { return tls_ != nullptr; }

tcp::endpoint Server::LocalEndpoint() const { return acceptor_.local_endpoint(); }

void Server::Start() {
  auto executor = acceptor_.get_executor();
  asio::co_spawn(executor, AcceptLoop(), LogHandlerException);
  // Registered here, before the broker says it is listening, TLS or not: SIGHUP's default would end
  // it at once, with neither the usage of the calls it served nor the leases it holds given back.
  hangup_ = std::make_shared<asio::signal_set>(executor, SIGHUP);
  asio::co_spawn(executor, ReloadOnHangup(tls_, hangup_), LogHandlerException);
  if (!tls_) return;
  asio::co_spawn(executor, ReloadOnChange(tls_, options_.tls_check_interval, stopping_), LogHandlerException);
}

void Server::Stop() {
  stopping_->store(true);
  asio::post(acceptor_.get_executor(), [this, hangup = hangup_] {
    beast::error_code ignored;
    acceptor_.close(ignored);
    if (hangup) hangup->cancel(ignored);
  });
}

namespace {

// Out of descriptors or memory: the connection stays in the listen backlog, and accepting it again
// at once fails again at once.
bool AcceptRunsShort(const beast::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}

}  // namespace

asio::awaitable<void> Server::AcceptLoop() {
  bool short_of_resources = false;
  while (!stopping_->load()) {
    auto [ec, socket] = co_await acceptor_.async_accept(io_.Next(), kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (!AcceptRunsShort(ec)) {
        spdlog::warn("accept failed: {}", ec.message());
        continue;
      }
      // Said once, then tried again every 100 ms: a loop that spun on it took a core and wrote
      // hundreds of thousands of log lines a second.
      if (!short_of_resources)
        spdlog::error("accept failed: {}; new connections wait (tried every 100 ms) until some end", ec.message());
      short_of_resources = true;
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(kUseTuple);
      continue;
    }
    if (short_of_resources) spdlog::info("accepting connections again");
    short_of_resources = false;
    socket.set_option(tcp::no_delay(true), ec);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, Serve(std::move(socket)), LogHandlerException);
  }
}

asio::awaitable<void> Server::Serve(tcp::socket socket) {
  struct Open {  // counts the connection until this coroutine ends, or is destroyed suspended
    std::shared_ptr<std::atomic<size_t>> count;
    explicit Open(std::shared_ptr<std::atomic<size_t>> c) : count(std::move(c)) { count->fetch_add(1); }
    ~Open() { count->fetch_sub(1); }
  } open(connections_);
  auto tls = tls_ ? tls_->Current() : nullptr;
  if (!tls) {
    Deadline deadline(socket);
    co_await ServeStream(socket, deadline);
    co_await LingeringClose(socket, deadline);
    co_return;
  }
  beast::ssl_stream<tcp::socket> stream(std::move(socket), *tls);
  Deadline deadline(beast::get_lowest_layer(stream));
  deadline.Arm(options_.read_timeout);
  auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kUseTuple);
  if (handshake_ec) co_return;  // not TLS, or a client that does not trust us: nothing to answer
  co_await ServeStream(stream, deadline);
  deadline.Arm(std::chrono::seconds(2));
  co_await stream.async_shutdown(kUseTuple);
}

template <class Stream>
asio::awaitable<void> Server::ServeStream(Stream& stream, Deadline& deadline) {
  // Bounded like the headers: a chunk extension that never ends is refused, not held (a body is
  // moved out of it piece by piece).
  beast::flat_buffer buffer(kMaxBuffered);
  // The deadline's begun test (ArmUntilBegun, below) looks into `buffer`: it goes with this frame,
  // however the frame ends; the caller arms the deadline anew for what it does next.
  struct DisarmAtEnd {
    Deadline& deadline;
    ~DisarmAtEnd() { deadline.Disarm(); }
  } disarm_at_end{deadline};
  // Suspended sessions are destroyed with the I/O pool, after the Server: keep what they touch alive.
  auto stopping = stopping_;
  auto in_flight = in_flight_;
  // One request, once its headers are in: its state lives in this coroutine's frame, made per
  // request, so an idle keep-alive connection holds only the small frame of the loop below.
  // Returns whether the connection goes on to another request.
  auto serve_one = [&](bhttp::request_parser<bhttp::empty_body>& head_parser,
                       beast::error_code ec) -> asio::awaitable<bool> {
    size_t n = 0;
    const bool client_keeps = head_parser.is_header_done() && ClientKeepsAlive(head_parser.get().base());
    Request request;
    std::optional<bhttp::request_parser<bhttp::buffer_body>> body_parser;
    bool continue_pending = false;
    std::optional<Error> refused;
    if (!ec) refused = RefusedHead(head_parser.get().base());
    if (!ec && !refused) {
      bool streamed = streams_body_ && !head_parser.is_done() && streams_body_(head_parser.get().base());
      size_t limit = streamed ? options_.streamed_body_limit : options_.body_limit;
      if (head_parser.content_length() && *head_parser.content_length() > limit) ec = bhttp::error::body_limit;
      // curl and others wait up to a second for 100 Continue before sending a larger body. A body
      // the server reads whole is asked for now; one relayed as it comes, once the handler reads it.
      continue_pending = !ec && !head_parser.is_done() && WantsContinue(head_parser.get().base());
      if (continue_pending && !streamed) {
        bhttp::response<bhttp::empty_body> proceed(StatusCode::continue_, head_parser.get().version());
        std::tie(ec, n) = co_await bhttp::async_write(stream, proceed, kUseTuple);
      }
      if (!ec && streamed) {
        body_parser.emplace(std::move(head_parser));
        body_parser->body_limit(limit);
        request = Request(body_parser->get().base());
      } else if (!ec) {
        // Beast adds a chunked body's trailer fields to the head, unbounded by its header limit:
        // a handler would read them as fields the client sent before its body (RFC 9110 §6.5.1).
        size_t head_fields = head_parser.chunked() ? FieldCount(head_parser.get().base()) : 0;
        bhttp::request_parser<bhttp::string_body> parser(std::move(head_parser));
        parser.body_limit(limit);
        ec = ParseBuffered(parser, buffer);
        if (!ec && !parser.is_done()) std::tie(ec, n) = co_await bhttp::async_read(stream, buffer, parser, kUseTuple);
        if (!ec) request = parser.release();
        if (!ec && head_fields && FieldCount(request.base()) != head_fields)
          refused = MakeError(Errc::kBadRequest, "Trailer fields are not accepted");
      }
    }
    if (ec || refused) {
      if (auto answer = refused ? refused : ReadFailureAnswer(ec)) {
        Response res = ErrorResponse(*answer);
        StampAnswer<Stream>(res, options_);
        res.keep_alive(false);
        deadline.Arm(options_.read_timeout);
        co_await WriteWhole(stream, res);
      }
      co_return false;
    }
    SessionExchange<Stream> exchange(stream, deadline, buffer, options_);
    exchange.SetBodyParser(body_parser ? &*body_parser : nullptr);
    if (body_parser && continue_pending) exchange.SetContinuePending();
    const bool to_head = request.method() == Verb::head;
    exchange.SetAnswerShape(request.version(), client_keeps, to_head, stopping.get());
    Response response;
    {
      InFlightGuard guard(*in_flight);
      deadline.Disarm();  // the handler bounds its own work (upstream timeouts)
      response = co_await handler_(request, exchange);
    }
    if (exchange.BodyLeftUnread() && !exchange.AnswerStarted()) co_await exchange.DrainBody();
    if (exchange.AnswerStarted()) {
      // One cut short is closed once its head is out: the client sees a started answer end early.
      if (!exchange.AnswerEnded()) co_await exchange.Flush();
      co_return exchange.AnswerEnded() && !exchange.EndsWithConnection() && !exchange.BodyLeftUnread() &&
          client_keeps && !stopping->load();
    }
    response.version(request.version());
    StampAnswer<Stream>(response, options_);
    const bool keep = client_keeps && !stopping->load() && !exchange.BodyLeftUnread();
    response.keep_alive(keep);
    deadline.Arm(options_.read_timeout);
    beast::error_code write_ec;
    if (to_head)
      std::tie(write_ec, std::ignore) = co_await WriteHeadOnly(stream, response);
    else
      std::tie(write_ec, std::ignore) = co_await WriteWhole(stream, response);
    co_return !write_ec && keep;
  };
  bool first = true;
  for (;;) {
    bhttp::request_parser<bhttp::empty_body> head_parser;
    head_parser.body_limit(boost::none);  // checked in serve_one, once the route's limit is known
    head_parser.header_limit(static_cast<std::uint32_t>(options_.header_limit));
    // A kept-alive connection waits for the next request's first byte under the idle timeout; from
    // it (or from the connection's start), the whole request, head and body, has the read timeout,
    // however slowly its bytes come.
    if (!first && buffer.size() == 0)
      deadline.ArmUntilBegun(options_.idle_timeout, options_.read_timeout, [&buffer] { return buffer.size() > 0; });
    else
      deadline.Arm(options_.read_timeout);
    first = false;
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, head_parser, kUseTuple);
    deadline.Begun();  // a head read whole between two sweeps: its body has the read timeout from now
    auto one = serve_one(head_parser, ec);
    if (!co_await std::move(one)) break;
  }
}

ShutdownSignals::ShutdownSignals(IoPool& io) : io_(io), signals_(io.First(), SIGINT, SIGTERM) {}

void ShutdownSignals::Run(std::vector<Server*> servers, std::chrono::milliseconds drain) {
  IoPool& io = io_;
  asio::io_context& main = io.First();
  asio::signal_set& signals = signals_;
  auto drain_then_stop = [&]() -> asio::awaitable<void> {
    for (auto* s : servers) s->Stop();
    auto deadline = std::chrono::steady_clock::now() + drain;
    asio::steady_timer timer(main);
    auto busy = [&] {
      for (auto* s : servers)
        if (s->InFlight() > 0) return true;
      return false;
    };
    while (busy() && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(asio::use_awaitable);
    }
    io.Stop();
  };
  signals.async_wait([&](const beast::error_code& ec, int) {
    if (ec) return;
    spdlog::info("shutting down: finishing requests in flight");
    asio::co_spawn(main, drain_then_stop(), LogHandlerException);
  });
  io.Run();
  // Drained: a second signal (during the last writes to the store, which may wait on it) ends
  // the process as signals do by default.
  boost::system::error_code ignored;
  signals.clear(ignored);
}

}  // namespace ap::http
