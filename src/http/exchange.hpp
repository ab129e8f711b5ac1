#pragma once
// The server side of one request, for handlers that read a body left on the wire, answer piece by
// piece (server-sent events, binary downloads) or send an answer whose head they wrote as bytes (the
// relay's whole answers). Handlers that do none of these ignore it.
// Thread-safety: use it only from the handler's coroutine.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <chrono>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "http/head_bytes.hpp"
#include "http/message.hpp"

namespace ap::http {

// What a handler tells the access log about its request: nothing secret goes here.
struct RequestNotes {
  std::string grant_id;
  std::optional<int64_t> upstream_ms;  // the provider's part of the call
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  // The next piece of a request body the router left on the wire; empty at its end. The view is
  // valid until the next call.
  virtual boost::asio::awaitable<Result<std::string_view>> ReadBodyPiece() = 0;
  // Starts a chunked answer with `head` (fields may be added to it on the way). The head is held,
  // to go out in one write with the first piece, or the end, or at Flush: a handler that waits
  // before its first piece flushes first, so that the client is not kept waiting for the head.
  // Nothing is written here, so nothing is waited for (nor a coroutine's frame made).
  // Once started, the Response the handler returns is not sent; an answer started and not ended
  // closes the connection, so the client sees it cut short.
  virtual void StartAnswer(AnswerHead& head) = 0;
  // Sends what is held (the head), if anything.
  virtual boost::asio::awaitable<Status> Flush() = 0;
  // Sends `data` (with the head, if held) at once.
  virtual boost::asio::awaitable<Status> WritePiece(std::string_view data) = 0;
  // Ends the answer, with `last` (if not empty) as its last piece: one write.
  virtual boost::asio::awaitable<Status> EndAnswer(std::string_view last) = 0;
  // Sends a whole answer, `head` and `body` (framed by its length), in one write: what StartAnswer
  // and EndAnswer do for an answer known whole. Fields may be added to `head` on the way. As with
  // StartAnswer, the Response the handler returns is then not sent.
  virtual boost::asio::awaitable<Status> SendAnswer(AnswerHead& head, std::string_view body) = 0;
  virtual bool AnswerStarted() const = 0;
  // The client's IP address, as text ("127.0.0.1", "::1").
  virtual std::string PeerAddress() const = 0;
  // Whether the client closed its side of the connection (or it broke), asked without waiting: a
  // handler that waits on something else (a provider thinking) learns that nobody waits for it.
  // A client that shuts down its sending side after its request counts as gone, as with nginx.
  // False while a write of the answer waits on the client: that write's failure tells, once the
  // handler has done what it does then (a relay counts what reached it meanwhile).
  virtual bool ClientLeft() const = 0;
  // How long the answer's last write waited for the client to take what it was sent (its receive
  // window full): an answer relayed meanwhile was not read from its source either.
  virtual std::chrono::milliseconds LastWriteWaited() const = 0;

  RequestNotes notes;
};

}  // namespace ap::http
