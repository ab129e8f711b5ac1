#pragma once
// The upstream HTTP client: HTTP and HTTPS (verified certificates, SNI) with pooled keep-alive
// connections per origin. A request that fails on a reused connection before any answer arrived
// is retried once on a fresh one (the upstream closed an idle connection), unless its body was
// streamed. Answers can be read whole or piece by piece.
// Thread-safety: Send may be called from any coroutine on any thread; it runs on the caller's
// executor, whose io_context one thread runs (an IoPool's), as connections keep their deadlines
// per thread (http/deadline.hpp).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/error.hpp"
#include "http/answer_reader.hpp"
#include "http/fields.hpp"
#include "http/head_bytes.hpp"
#include "http/message.hpp"
#include "http/url.hpp"

namespace ap::http {

struct ClientOptions {
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds request_timeout{600};  // whole exchange; model calls can be slow
  // Idle connections kept per origin and I/O thread. As many as calls are usually in flight: each
  // one not kept is a new connection (and a name lookup) for a later call. At 64, a fifth of the
  // calls connected anew with 256 in flight (bench/run.sh's pinned lane, measured).
  size_t max_idle_per_origin = 512;
  // How long an idle connection is kept. Providers close theirs after a while; a call that finds
  // one closed is retried once on a fresh connection, but an upload streamed as it arrives cannot
  // be. nginx keeps its upstream connections 60 s too (keepalive_timeout).
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  size_t response_limit = 64 << 20;
  std::string ca_file;  // extra trust anchors (PEM), on top of the system's
  // Read the system's trust anchors when the client is made, rather than when it first connects to
  // a TLS origin: set when some upstream is one, so that no call waits for them. Reading them
  // takes about 1.5 MB, which a broker whose upstreams are all plain HTTP (local models) keeps.
  bool system_trust_at_start = true;
  // When set, only resolved addresses it accepts are connected to (checked on the address itself,
  // so a name cannot resolve to an allowed address once and another the next time); a name with
  // none left, or one that does not resolve, fails with kForbidden (the same error, so that a
  // caller cannot tell which names the network's DNS knows). Empty: any address.
  std::function<bool(const boost::asio::ip::address&)> allow_address;
  // Look names up on a thread of the client's own rather than the caller's context's. Asio looks
  // names up one at a time per context, on a thread of its own: a name an outsider chose, whose
  // name server never answers (10-30 s), would hold up every lookup of that I/O thread behind it,
  // the providers' included.
  bool lookups_apart = false;
};

// An answer whose body is read piece by piece. Reading it to the end gives the connection back to
// the pool; destroying it earlier closes the connection, which cancels the call upstream.
class UpstreamAnswer {
 public:
  struct State;
  explicit UpstreamAnswer(std::unique_ptr<State> state);
  ~UpstreamAnswer();
  UpstreamAnswer(const UpstreamAnswer&) = delete;
  UpstreamAnswer& operator=(const UpstreamAnswer&) = delete;

  const ResponseHead& Head() const;
  // The next piece of the body, empty at its end; valid until the next call of ReadPiece,
  // ReadPieceAtOnce, MustWait or AtEnd.
  boost::asio::awaitable<Result<std::string_view>> ReadPiece();
  // As ReadPiece, but of what has already arrived only: empty, without waiting, once nothing more
  // has (or at the body's end). A piece that arrived in part is waited for; the call's deadline is
  // brought forward to `within` from now (the first call's), past which the connection is closed
  // and the read fails. For an answer
  // whose reader left: what was already sent is read, to be counted, before the connection closes.
  boost::asio::awaitable<Result<std::string_view>> ReadArrived(std::chrono::milliseconds within);
  // Whether the next ReadPiece has to wait for the provider: what the connection has read holds no
  // more of the body. It parses what it holds, for the next ReadPiece to return at once.
  bool MustWait();
  // Whether the next ReadPiece returns the end of the body without waiting.
  bool AtEnd();
  // The next piece as ReadPiece gives it, when the connection has read it already (without
  // ReadPiece's frame), or nothing when ReadPiece would wait for the provider.
  std::optional<Result<std::string_view>> ReadPieceAtOnce();
  // The rest of the body; kPayloadTooLarge if it is (or says it is) longer than `limit`. It goes on
  // from `so_far`, what TakeRead took.
  boost::asio::awaitable<Result<std::string>> ReadRest(size_t limit, std::string so_far = {});
  // What the connection has read of the rest of the body, appended to `body`, without ReadRest's
  // frame: true once `body` holds the whole rest (as a whole answer that came with its head
  // does), or the error ReadRest would give; false when the body goes on past what was read.
  bool TakeRead(size_t limit, Result<std::string>& body);

 private:
  std::optional<Result<std::string_view>> ParseBufferedPiece();
  boost::asio::awaitable<Result<std::string_view>> NextPiece(bool wait);

  std::unique_ptr<State> state_;
};

// Supplies a request body piece by piece; an empty piece ends it.
using BodySource = std::function<boost::asio::awaitable<Result<std::string_view>>()>;

// A call's body: `whole`, or, with a `source`, piece by piece as the source supplies it, sent as
// `length` bytes (chunked when the length is not known).
struct CallBody {
  std::string_view whole;
  BodySource source;
  std::optional<uint64_t> length;
};

class HttpClient {
 public:
  // Connections are pooled per thread: those of threads past this many (a broker's io_threads)
  // are not pooled.
  static constexpr size_t kPoolThreads = 256;

  // Fails (throws) only if the TLS context cannot be set up: a startup error.
  explicit HttpClient(ClientOptions options);
  ~HttpClient();
  // With lookups_apart: waits for the lookups under way (a stalled one, for as long as the system
  // lets it run), whose completions go to their callers' contexts, and takes no more. Called before
  // those contexts end; a lookup asked for after it never completes.
  void EndLookups();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `call` and reads the head of the answer. The call's target is the whole path (with the
  // origin's prefix); Host and the body's framing are added here. `call` and what `body` views must
  // last until the operation completes. Of the answer's fields, Head() holds those named in
  // `read_fields` (which must last as long), all when it is empty: a field kept costs about 350
  // instructions (a Beast field map's insert), and a provider sends a dozen or more.
  // `unwanted`, when given, is asked a few times a second while the call is in flight (its answer
  // being read included): once it returns true the connection is closed, which cancels the call
  // upstream, and the wait fails with "the call was given up" (Deadline::EndWhen).
  boost::asio::awaitable<Result<std::unique_ptr<UpstreamAnswer>>> Open(const Origin& origin, const CallHead& call,
                                                                       CallBody body = {},
                                                                       std::span<const FieldName> read_fields = {},
                                                                       std::function<bool()> unwanted = {});
  // Sends `call` with `body` and reads the whole answer.
  boost::asio::awaitable<Result<Response>> Send(const Origin& origin, CallHead call, std::string body = {});

 private:
  friend class UpstreamAnswer;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ap::http
