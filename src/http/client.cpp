#include "http/client.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

#include "http/deadline.hpp"
#include "http/wire.hpp"

namespace ap::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using asio::ip::tcp;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// The most of an answer held unread: interim heads (8 KB together), the head (8 KB), a chunk's line
// (4 KB), trailers (8 KB), and what came with them (AnswerReader bounds each).
constexpr size_t kMaxBuffered = 1 << 20;

struct ThreadIdle;

struct Connection {
  Origin origin;               // where it leads (its scheme, host and port)
  // The idle connections of the thread it was made on, where it goes back; null when that thread
  // has none (past HttpClient::kPoolThreads threads), and then it is not pooled.
  ThreadIdle* home = nullptr;
  std::optional<tcp::socket> plain;
  std::optional<beast::ssl_stream<tcp::socket>> secure;
  // Armed for the connect, then for each call's whole exchange; disarmed in the pool. After the
  // streams, as it refers to their socket.
  std::optional<Deadline> deadline;
  // What has been read and not yet used. Reserved at kReadSize while a call uses the connection:
  // reads take what fits in it (512 bytes while it is empty), and a consumed buffer never grows, so
  // an answer of 800 bytes would take two reads on every call. Bodies are handed on from here.
  beast::flat_buffer buffer{kMaxBuffered};
  // When it last went back to the pool.
  CoarseClock::time_point idle_since;  // a tick is precise enough for idle times of 100 ms and more

  static constexpr size_t kReadSize = 16 << 10;

  // Gives the connection its buffer for a call, and takes it back while it waits in the pool. The
  // pool keeps as many connections as calls were in flight, and after 1,000 streams 16 KB each
  // would stay resident (16 MB in the memory lane of bench/run.sh).
  void Ready() { buffer.reserve(kReadSize); }
  void Rest() {
    buffer.shrink_to_fit();  // keeps only what is unread, nothing after a whole answer
  }

  std::string_view Unread() const { return {static_cast<const char*>(buffer.cdata().data()), buffer.size()}; }
  // Whether bytes were read past what was used: in the buffer, or held by OpenSSL (decrypted, or
  // still encrypted in its read BIO).
  bool HasUnread() { return buffer.size() > 0 || OpenSslHolds(); }

  tcp::socket& Tcp() { return plain ? *plain : beast::get_lowest_layer(*secure); }

  // Whether the peer closed the connection, or sent something no call asked for, while it waited in
  // the pool: a non-blocking peek finds the end of the stream, an error, or bytes (a TLS alert).
  bool Spoiled() {
    char byte;
    ssize_t n = ::recv(Tcp().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) || OpenSslHolds();
  }

  // Whether bytes have arrived that were not read yet: in the kernel, or held by OpenSSL.
  bool Arrived() {
    boost::system::error_code ec;
    return (Tcp().available(ec) > 0 && !ec) || OpenSslHolds();
  }

  // Whether OpenSSL holds bytes read from the socket: decrypted, or still encrypted in its read BIO.
  bool OpenSslHolds() {
    if (!secure) return false;
    SSL* ssl = secure->native_handle();
    return SSL_pending(ssl) > 0 || BIO_pending(SSL_get_rbio(ssl)) > 0;
  }

  // An error as the caller sees it: a wait that the deadline cut short is a timeout, one its test
  // ended is aborted.
  beast::error_code Checked(beast::error_code ec) const {
    if (ec && deadline->Passed()) return beast::error::timeout;
    if (ec && deadline->Ended()) return asio::error::operation_aborted;
    return ec;
  }

  // Room in the buffer for the next read; none once it holds kMaxBuffered unread.
  size_t ReadRoom() { return beast::read_size(buffer, kReadSize); }

  // Runs `op(stream)` on whichever stream this connection has.
  template <class Op>
  auto With(Op&& op) {
    return plain ? op(*plain) : op(*secure);
  }

  // A read of what the upstream sends next into `room` bytes of the buffer (ReadRoom): co_await
  // it, then commit what it read. Not a coroutine of its own: a frame less for every read of an
  // answer (every read of a stream's events).
  auto ReadSome(size_t room) {
    auto read = [this, room](auto& stream) { return stream.async_read_some(buffer.prepare(room), kUseTuple); };
    return With(read);
  }
};

// Whether `a` and `b` are the same origin: a connection to one serves calls to the other.
bool SameOrigin(const Origin& a, const Origin& b) { return a.tls == b.tls && a.port == b.port && a.host == b.host; }

// The idle connections of one executor's context (an I/O thread's io_context), by origin. A
// connection is only reused by the calls of the thread that made it, so each thread keeps its own:
// the threads share no lock and no cache line, and a call neither builds nor hashes a key. Its lock
// is never contended when one thread runs the context, as the header asks; it is there for a
// context that several threads run. Every origin it holds has at least one connection.
struct alignas(64) ThreadIdle {
  struct OriginIdle {
    Origin origin;
    std::vector<std::unique_ptr<Connection>> connections;  // oldest first
  };
  // Origins with idle connections at most, per thread: beyond, once those idle too long are
  // dropped, a connection to another is closed after its call rather than pooled. Looked through
  // in order; an origin without idle connections is dropped.
  static constexpr size_t kMaxOrigins = 64;

  std::mutex mutex;
  std::vector<OriginIdle> origins;

  std::vector<OriginIdle>::iterator Find(const Origin& origin) {
    return std::find_if(origins.begin(), origins.end(),
                        [&](const OriginIdle& o) { return SameOrigin(o.origin, origin); });
  }
  // Drops the origin at `it` and its connections.
  void Drop(std::vector<OriginIdle>::iterator it) {
    if (it != origins.end() - 1) *it = std::move(origins.back());
    origins.pop_back();
  }
};

// The call's head as it goes out: the request line, Host, the call's fields and the body's framing.
std::string CallBytes(const Origin& origin, const CallHead& call, const CallBody& body) {
  // The broker's own paths, or an app's already parsed and re-encoded: nothing that ends the line.
  assert(call.target.find_first_of(" \r\n") == std::string::npos);
  std::string out;
  out.reserve(call.target.size() + call.fields.size() + origin.host.size() + 80);
  out.append(bhttp::to_string(call.method)).append(" ").append(call.target).append(" HTTP/1.1\r\nHost: ");
  origin.AppendHostHeader(out);
  out.append("\r\n").append(call.fields);
  // A streamed body is framed by its length or in chunks; a whole one by its length, unless it is
  // empty and the method takes none (GET, HEAD, DELETE): as Beast frames a request, and for an
  // empty PATCH too.
  if (body.source)
    AppendFraming(body.length, out);
  else if (!body.whole.empty() || call.method == bhttp::verb::post || call.method == bhttp::verb::put ||
           call.method == bhttp::verb::options || call.method == bhttp::verb::patch)
    AppendFraming(body.whole.size(), out);
  out.append("\r\n");
  return out;
}

// A call whose body is whole: its head and body, written together.
std::array<asio::const_buffer, 2> WholeCall(std::string_view head, const CallBody& body) {
  return {asio::buffer(head), asio::buffer(body.whole)};
}

// Writes the call's head, then its body: whole with the head (what is left of them once `sent`
// bytes went out), or piece by piece as its source gives it.
template <class Stream>
asio::awaitable<beast::error_code> WriteCall(Stream& stream, std::string_view head, const CallBody& body, size_t sent) {
  assert(!body.source || sent == 0);  // a streamed body's head is sent here, whole
  if (!body.source) {
    auto pieces = WholeCall(head, body);
    auto [ec, n] = co_await WriteRest(stream, pieces, sent);
    co_return ec;
  }
  asio::const_buffer head_bytes = asio::buffer(head);  // named: g++ 12 and temporaries in co_await
  auto [ec, n] = co_await WriteAll(stream, head_bytes);
  bool chunked = !body.length;
  while (!ec) {
    auto piece = co_await body.source();
    if (!piece) co_return asio::error::operation_aborted;
    if (piece->empty()) break;
    asio::const_buffer bytes = asio::buffer(*piece);
    if (chunked) {
      auto chunk = bhttp::make_chunk(bytes);
      std::tie(ec, n) = co_await WriteAll(stream, chunk);
    } else {
      std::tie(ec, n) = co_await WriteAll(stream, bytes);
    }
  }
  if (!ec && chunked) {
    auto last = bhttp::make_chunk_last();
    std::tie(ec, n) = co_await WriteAll(stream, last);
  }
  co_return ec;
}

// The answer could not be read: AnswerReader::Fault says why.
const beast::error_code kMalformed = std::make_error_code(std::errc::bad_message);

// A body longer than its reader's limit.
Error TooLarge() { return MakeError(Errc::kPayloadTooLarge, "upstream answer is too large"); }

// What the connection's buffer says of the answer's head: nothing yet while it holds less than
// the head (a read must follow), else no error once `reader` has the head (its bytes consumed),
// or why it cannot be read. Not a coroutine: the call's reads of the head are HttpClient::Open's.
std::optional<beast::error_code> HeadFromBuffer(Connection& conn, AnswerReader& reader) {
  // A connection's buffer is empty when its call starts: nothing to look at before a read.
  if (conn.buffer.size() > 0) {
    size_t used = reader.ReadHead(conn.Unread());
    if (reader.Fault()) return kMalformed;
    if (used > 0) {
      conn.buffer.consume(used);
      return beast::error_code();
    }
  }
  if (conn.ReadRoom() == 0) return bhttp::error::buffer_overflow;
  return std::nullopt;
}

Error Describe(const beast::error_code& ec, const Origin& origin, const char* stage,
               const AnswerReader* reader = nullptr) {
  if (ec == kMalformed && reader && reader->Fault())
    return MakeError(Errc::kUpstream, std::string("upstream ") + origin.host + " sent an answer that cannot be read (" +
                                          stage + "): " + reader->Fault());
  if (ec == beast::error::timeout)
    return MakeError(Errc::kUpstreamTimeout, std::string("upstream ") + origin.host + " timed out (" + stage + ")");
  if (ec == asio::error::operation_aborted)
    return MakeError(Errc::kUpstream,
                     std::string("upstream ") + origin.host + ": the call was given up (" + stage + ")");
  if (ec == bhttp::error::buffer_overflow)
    return MakeError(Errc::kUpstream, std::string("upstream ") + origin.host + " sent a line over 1 MB (" + stage + ")");
  return MakeError(Errc::kUpstream,
                   std::string("upstream ") + origin.host + " failed (" + stage + "): " + ec.message());
}

}  // namespace

struct HttpClient::Impl {
  // Idle connections per origin and thread that keep their buffers (see Connection::Rest).
  static constexpr size_t kWarmIdle = 32;
  static constexpr std::chrono::milliseconds kLookAfterIdle{100};

  explicit Impl(ClientOptions options) : options(std::move(options)), tls(ssl::context::tls_client) {
    if (this->options.system_trust_at_start) TrustTheSystem();
    tls.set_verify_mode(ssl::verify_peer);
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (!this->options.ca_file.empty()) tls.load_verify_file(this->options.ca_file);
    if (this->options.lookups_apart) lookups.emplace(1);
  }

  // The system's trust anchors in `tls`, once, before its first TLS connection (any thread).
  void TrustTheSystem() {
    std::call_once(system_trusted, [this] { tls.set_default_verify_paths(); });
  }

  std::unique_ptr<Connection> TakeIdle(ThreadIdle* thread_idle, const Origin& origin) {
    if (!thread_idle) return nullptr;
    ThreadIdle& idle = *thread_idle;
    std::lock_guard lock(idle.mutex);
    auto it = idle.Find(origin);
    if (it == idle.origins.end()) return nullptr;
    auto& list = it->connections;
    assert(!list.empty());
    auto now = CoarseClock::now();
    // The pool is last in, first out: if the newest has been idle too long, so have all the others.
    if (Stale(*list.back(), now)) {
      idle.Drop(it);
      return nullptr;
    }
    // One idle a while is looked at first: a call written to one the provider has closed could not
    // be sent again (Open), since the provider might have read it. One used a moment ago is not:
    // busy calls cost no system call for it.
    std::unique_ptr<Connection> conn;
    while (!conn && !list.empty() && !Stale(*list.back(), now)) {
      conn = std::move(list.back());
      list.pop_back();
      if (now - conn->idle_since >= kLookAfterIdle && conn->Spoiled()) conn.reset();
    }
    if (list.empty()) idle.Drop(it);
    return conn;
  }

  void ReturnIdle(std::unique_ptr<Connection> conn) {
    // No pool (max 0: an origin is never held without a connection), or none for its thread.
    if (options.max_idle_per_origin == 0 || !conn->home) return;
    // One whose deadline passed (or whose call was ended) after its answer was read has a closed
    // socket: not worth keeping.
    if (conn->deadline->Passed() || conn->deadline->Ended()) return;
    conn->deadline->Disarm();
    auto now = CoarseClock::now();
    conn->idle_since = now;
    ThreadIdle& idle = *conn->home;
    std::lock_guard lock(idle.mutex);
    auto it = idle.Find(conn->origin);
    if (it == idle.origins.end()) {
      // The pool is last in, first out: an origin whose newest has been idle too long has no other.
      if (idle.origins.size() >= ThreadIdle::kMaxOrigins)
        std::erase_if(idle.origins, [&](const auto& o) { return Stale(*o.connections.back(), now); });
      if (idle.origins.size() >= ThreadIdle::kMaxOrigins) return;
      it = idle.origins.insert(idle.origins.end(), {conn->origin, {}});
    }
    auto& list = it->connections;
    // Oldest first: those idle too long go (they are of this thread, like their deadlines).
    auto fresh = std::partition_point(list.begin(), list.end(), [&](const auto& c) { return Stale(*c, now); });
    list.erase(list.begin(), fresh);
    if (list.size() >= options.max_idle_per_origin) return;
    list.push_back(std::move(conn));
    // The connections used last are taken first, and keep their buffers for it; one that has gone
    // deeper into the pool gives them back.
    if (list.size() > kWarmIdle) list[list.size() - 1 - kWarmIdle]->Rest();
  }

  bool Stale(const Connection& conn, CoarseClock::time_point now) const {
    return now - conn.idle_since > options.idle_timeout;
  }

  // The idle connections of the thread that runs `executor`, claimed by its context on its first
  // call; null past kPoolThreads contexts, whose connections are then not pooled: one must never
  // be used on another thread than its own (its deadline is its thread's).
  ThreadIdle* IdleOf(const asio::any_io_executor& executor) {
    const void* context = &asio::query(executor, asio::execution::context);
    for (size_t i = 0; i < owners.size(); ++i) {
      const void* owner = owners[i].load(std::memory_order_acquire);
      if (owner == nullptr && owners[i].compare_exchange_strong(owner, context, std::memory_order_acq_rel))
        return &threads[i];
      if (owner == context) return &threads[i];
    }
    return nullptr;
  }

  asio::awaitable<Result<std::unique_ptr<Connection>>> Connect(const Origin& origin, asio::any_io_executor executor,
                                                               ThreadIdle* home) {
    auto conn = std::make_unique<Connection>();
    conn->origin = origin;
    conn->home = home;
    tcp::resolver resolver(lookups ? asio::any_io_executor(lookups->get_executor()) : executor);
    auto [resolve_ec, endpoints] = co_await resolver.async_resolve(origin.host, origin.port, kUseTuple);
    // Fenced (allow_address), a name that does not resolve is told as one that resolves only to
    // addresses the fence keeps out: else whoever has the broker fetch could tell which names the
    // network's own DNS knows.
    if (resolve_ec) {
      if (!options.allow_address) co_return Describe(resolve_ec, origin, "resolve");
      spdlog::debug("{} does not resolve: {}", origin.host, resolve_ec.message());  // for the operator
    }
    std::vector<tcp::endpoint> allowed;  // none when it did not resolve
    for (const auto& entry : endpoints)
      if (!options.allow_address || options.allow_address(entry.endpoint().address()))
        allowed.push_back(entry.endpoint());
    if (allowed.empty())
      co_return MakeError(Errc::kForbidden, origin.host +
                                                " has no address that may be reached (it does not resolve, "
                                                "or only to private, loopback, link-local or reserved ones)");
    if (origin.tls) {
      TrustTheSystem();
      conn->secure.emplace(executor, tls);
    } else {
      conn->plain.emplace(executor);
    }
    tcp::socket& socket = conn->Tcp();
    conn->deadline.emplace(socket);
    conn->deadline->Arm(options.connect_timeout);
    auto [connect_ec, ep] = co_await asio::async_connect(socket, allowed, kUseTuple);
    if (connect_ec) co_return Describe(conn->Checked(connect_ec), origin, "connect");
    beast::error_code no_delay_ec;  // only slower without it: not worth failing the call for
    socket.set_option(tcp::no_delay(true), no_delay_ec);
    if (origin.tls) {
      SSL* handle = conn->secure->native_handle();
      if (!SSL_set_tlsext_host_name(handle, origin.host.c_str()))
        co_return MakeError(Errc::kUpstream, "cannot set TLS server name for " + origin.host);
      conn->secure->set_verify_callback(ssl::host_name_verification(origin.host));
      auto [hs_ec] = co_await conn->secure->async_handshake(ssl::stream_base::client, kUseTuple);
      if (hs_ec) co_return Describe(conn->Checked(hs_ec), origin, "TLS handshake");
    }
    co_return std::move(conn);
  }

  ClientOptions options;
  ssl::context tls;
  std::once_flag system_trusted;
  std::optional<asio::thread_pool> lookups;  // options.lookups_apart
  // One per thread that makes calls (an IoPool's threads, a test's), claimed in order: the owners
  // are read on every call and written once per thread, so they lie apart from the slots, which
  // their own threads write.
  std::array<std::atomic<const void*>, kPoolThreads> owners{};
  std::array<ThreadIdle, kPoolThreads> threads;
};

struct UpstreamAnswer::State {
  State(std::span<const FieldName> read_fields, bool answers_head) : reader(read_fields, answers_head) {}
  std::shared_ptr<HttpClient::Impl> client;
  std::unique_ptr<Connection> conn;
  AnswerReader reader;
  std::optional<Result<std::string_view>> parsed;  // by MustWait, for the next ReadPiece
  bool call_cut_short = false;  // answered before its body was all written: the connection is not reused
};

UpstreamAnswer::UpstreamAnswer(std::unique_ptr<State> state) : state_(std::move(state)) {}

UpstreamAnswer::~UpstreamAnswer() {
  // Bytes after the answer's end would be read as the start of the next call's answer: a
  // connection that has any is not reused.
  const AnswerReader& reader = state_->reader;
  if (reader.Done() && reader.KeepAlive() && !state_->call_cut_short && !state_->conn->HasUnread())
    state_->client->ReturnIdle(std::move(state_->conn));
}

const ResponseHead& UpstreamAnswer::Head() const { return state_->reader.Head(); }

// The next piece from what the connection has read, without a read: the piece, empty at the end
// of the body, or nullopt when the body goes on past what was read. The piece stays in the
// connection's buffer, consumed, until the next read. Every chunk the buffer holds joins it (each
// moved over the framing before it, consumed too), so that chunks read together go on together.
std::optional<Result<std::string_view>> UpstreamAnswer::ParseBufferedPiece() {
  State& s = *state_;
  if (s.reader.Done()) return std::string_view();
  char* piece = nullptr;
  size_t size = 0;
  for (;;) {
    char* unread = static_cast<char*>(s.conn->buffer.data().data());
    std::string_view content;
    s.conn->buffer.consume(s.reader.ReadBody({unread, s.conn->buffer.size()}, content));
    if (s.reader.Fault()) {
      if (size > 0) break;  // what came before the fault goes on first; the next call says it
      return Describe(kMalformed, s.conn->origin, "reading the answer", &s.reader);
    }
    if (content.empty()) break;
    char* at = unread + (content.data() - unread);
    if (!piece) piece = at;
    if (at != piece + size) std::memmove(piece + size, at, content.size());
    size += content.size();
  }
  if (size > 0 || s.reader.Done()) return std::string_view(piece, size);
  return std::nullopt;
}

asio::awaitable<Result<std::string_view>> UpstreamAnswer::ReadPiece() { return NextPiece(true); }

asio::awaitable<Result<std::string_view>> UpstreamAnswer::ReadArrived(std::chrono::milliseconds within) {
  state_->conn->deadline->Shorten(within);
  return NextPiece(false);
}

asio::awaitable<Result<std::string_view>> UpstreamAnswer::NextPiece(bool wait) {
  State& s = *state_;
  for (;;) {
    auto parsed = std::exchange(s.parsed, std::nullopt);
    if (!parsed) parsed = ParseBufferedPiece();
    if (parsed) co_return std::move(*parsed);
    if (!wait && !s.conn->Arrived()) co_return std::string_view();
    size_t room = s.conn->ReadRoom();
    if (room == 0)
      co_return Describe(s.conn->Checked(bhttp::error::buffer_overflow), s.conn->origin, "reading the answer");
    auto [ec, n] = co_await s.conn->ReadSome(room);
    s.conn->buffer.commit(n);
    if (ec == asio::error::eof) {
      if (s.reader.Closed()) co_return std::string_view();
      ec = kMalformed;
    }
    if (ec) co_return Describe(s.conn->Checked(ec), s.conn->origin, "reading the answer", &s.reader);
  }
}

bool UpstreamAnswer::MustWait() {
  State& s = *state_;
  if (!s.parsed) s.parsed = ParseBufferedPiece();
  return !s.parsed;
}

bool UpstreamAnswer::AtEnd() { return !MustWait() && *state_->parsed && (*state_->parsed)->empty(); }

std::optional<Result<std::string_view>> UpstreamAnswer::ReadPieceAtOnce() {
  if (MustWait()) return std::nullopt;
  return std::exchange(state_->parsed, std::nullopt);
}

bool UpstreamAnswer::TakeRead(size_t limit, Result<std::string>& body) {
  // One that says at once it is too long is refused unread.
  if (auto length = state_->reader.Length(); length && *length > limit) {
    body = TooLarge();
    return true;
  }
  // Taken while the body goes on (or a piece parsed ahead waits).
  while (state_->parsed || !state_->reader.Done()) {
    auto read = ReadPieceAtOnce();
    if (!read) return false;
    Result<std::string_view>& piece = *read;
    if (!piece || piece->empty()) {
      if (!piece) body = piece.error();
      return true;
    }
    if (body->size() + piece->size() > limit) {
      body = TooLarge();
      return true;
    }
    body->append(*piece);
  }
  return true;
}

asio::awaitable<Result<std::string>> UpstreamAnswer::ReadRest(size_t limit, std::string so_far) {
  Result<std::string> body = std::move(so_far);
  while (!TakeRead(limit, body)) {
    auto piece = co_await ReadPiece();
    if (!piece) co_return piece.error();
    if (piece->empty()) break;
    if (body->size() + piece->size() > limit) co_return TooLarge();
    body->append(*piece);
  }
  co_return body;
}

HttpClient::HttpClient(ClientOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

void HttpClient::EndLookups() {
  if (impl_->lookups) impl_->lookups->join();
}

asio::awaitable<Result<Response>> HttpClient::Send(const Origin& origin, CallHead call, std::string body) {
  CallBody whole{body, {}, {}};
  auto answer = co_await Open(origin, call, whole);
  if (!answer) co_return answer.error();
  auto read = co_await (*answer)->ReadRest(impl_->options.response_limit);
  if (!read) co_return read.error();
  Response response((*answer)->Head());
  response.body() = std::move(*read);
  co_return response;
}

asio::awaitable<Result<std::unique_ptr<UpstreamAnswer>>> HttpClient::Open(const Origin& origin, const CallHead& call,
                                                                          CallBody body,
                                                                          std::span<const FieldName> read_fields,
                                                                          std::function<bool()> unwanted) {
  std::string head = CallBytes(origin, call, body);
  auto executor = co_await asio::this_coro::executor;
  auto given_up = [&] {
    return MakeError(Errc::kUpstream, "upstream " + origin.host + ": the call was given up before it was sent");
  };
  if (unwanted && unwanted()) co_return given_up();  // nothing goes out for a call no longer wanted
  ThreadIdle* idle = impl_->IdleOf(executor);
  auto conn = impl_->TakeIdle(idle, origin);
  bool reused = conn != nullptr;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn) {
      auto fresh = co_await impl_->Connect(origin, executor, idle);
      if (!fresh) co_return fresh.error();
      conn = std::move(*fresh);
      reused = false;
      if (unwanted && unwanted()) {  // while it connected
        impl_->ReturnIdle(std::move(conn));
        co_return given_up();
      }
    }
    conn->Ready();
    auto state = std::make_unique<UpstreamAnswer::State>(read_fields, call.method == bhttp::verb::head);
    conn->deadline->Arm(impl_->options.request_timeout);
    conn->deadline->EndWhen(unwanted);
    // A whole call usually goes out at once, without WriteCall's coroutine (WriteRest says why).
    beast::error_code ec;
    size_t sent = 0;
    if (conn->plain && !body.source) std::tie(ec, sent) = SendWithoutWaiting(*conn->plain, WholeCall(head, body));
    if (!ec && (body.source || sent < head.size() + body.whole.size())) {
      auto write = [&](auto& stream) { return WriteCall(stream, head, body, sent); };
      ec = co_await conn->With(write);
    }
    bool written = !ec;
    // A provider may answer an upload before it has read all of it (a 413 over its limit), then
    // close: the write fails, but the answer has come, and is the call's. (Not when the upload's
    // source failed, or the deadline cut the write short: operation_aborted.)
    if (!written && body.source && ec != asio::error::operation_aborted && conn->Arrived()) {
      state->call_cut_short = true;
      ec = {};
    }
    while (!ec) {  // the answer's head
      if (auto head = HeadFromBuffer(*conn, state->reader)) {
        ec = *head;
        break;
      }
      auto [read_ec, n] = co_await conn->ReadSome(conn->ReadRoom());
      conn->buffer.commit(n);
      ec = read_ec;
    }
    if (!ec) {
      state->client = impl_;
      state->conn = std::move(conn);
      co_return std::make_unique<UpstreamAnswer>(std::move(state));
    }
    ec = conn->Checked(ec);
    // Once the whole call was written, the provider may have read it and done (and billed) its
    // work, whatever became of the answer: it is not sent again, and it counts as sent unanswered.
    // Only one whose writing failed on a pooled connection (closed as it was taken) is sent again.
    if (!reused || body.source || written || conn->buffer.size() > 0 || conn->deadline->Ended()) {
      Error e = Describe(ec, origin, "exchange", &state->reader);
      e.sent_unanswered = written;
      co_return e;
    }
    conn.reset();  // a stale pooled connection: try once more on a new one
  }
  co_return MakeError(Errc::kUpstream, "upstream " + origin.host + " failed");
}

}  // namespace ap::http
