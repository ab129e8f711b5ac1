#pragma once
// An upstream's answer read from the bytes of its connection (RFC 9112): the head, of whose fields
// only those asked for are kept, and the body as its framing says: a length, chunks, or the bytes
// until the connection closes. Body bytes are handed on where they lie, not copied.
// Strict where a lenient reading could make the broker and the upstream disagree on where an answer
// ends (the next call on the pooled connection would read the rest of this one): a line that ends
// in a bare LF, a folded line, space before a field's colon, a control character in a value, two
// different Content-Lengths, a Content-Length with chunks, a transfer coding other than chunked, a
// malformed chunk line are all refused: never more lenient than Beast's parser, which
// fuzz/answer_fuzz.cpp checks (Beast hands an interim 1xx answer on as the answer; this skips it).
// It replaced Beast's parser in the upstream client, which copied each body into a buffer of its
// own and numbered every field's name: an OpenAI answer's head reads in 279 ns here against 349
// (BM_AnswerHead_* in bench/micro_bench.cpp), and a relayed call takes about 2,000 instructions
// fewer (bench/instructions.sh, 94,557 against 92,606).
// Thread-safety: none; one per answer.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "http/fields.hpp"
#include "http/message.hpp"

namespace ap::http {

using ResponseHead = bhttp::response_header<>;

class AnswerReader {
 public:
  static constexpr size_t kMaxHead = 8 << 10;       // as Beast's parser's default
  static constexpr size_t kMaxChunkLine = 4 << 10;  // a chunk's size and extensions

  // Keeps the fields named in `keep` (all when it is empty; it must outlive the reader). An answer
  // to HEAD has no body, whatever its head says.
  AnswerReader(std::span<const FieldName> keep, bool answers_head);

  // Reads the head from the start of `bytes` (what the connection has read and not used): how many
  // bytes it took, 0 when it goes on past them or is malformed (then Fault says why). Interim
  // answers (1xx) are skipped: the head is the final one's, and their bytes are counted.
  size_t ReadHead(std::string_view bytes);
  const ResponseHead& Head() const { return head_; }

  // Reads the body from the start of `bytes`, up to the end of its first stretch of content: how
  // many bytes it used (framing and content), `content` viewing the content among them (empty when
  // there was none). It stops where the bytes end, at the body's end (Done), or at a malformed body
  // (Fault; then 0).
  size_t ReadBody(std::string_view bytes, std::string_view& content);
  // The connection ended with no more bytes: true when that ends the body (one read until the
  // close), a fault otherwise.
  bool Closed();

  bool Done() const { return state_ == State::kDone; }
  // Why the answer cannot be read, once it cannot; nullptr until then.
  const char* Fault() const { return fault_; }
  // Whether the connection may carry another call once the body is done.
  // An HTTP/1.0 answer in chunks has faulty framing (RFC 9112, 6.1): its connection is closed.
  bool KeepAlive() const {
    if (until_close_ || close_) return false;
    return head_.version() >= 11 || (keep_alive_token_ && !chunked_);
  }
  // The body's length, once the head is read: what it says, or 0 for an answer that has no body (to
  // HEAD, a 204, a 304) whatever it says; none for chunks or a body that ends with the connection.
  std::optional<uint64_t> Length() const { return length_; }

 private:
  enum class State { kHead, kLength, kUntilClose, kChunkLine, kChunkData, kChunkEnd, kTrailer, kDone };

  // The size of the head at the start of `bytes`; 0 when it has not all come, or is malformed.
  size_t ParseHead(std::string_view bytes);
  // Each returns false (with fault_ set) on a malformed piece.
  bool ParseStatusLine(std::string_view line);
  // The field line at the start of `bytes`, read and checked: its size with its CRLF, 2 for the
  // empty line that ends a head, 0 when the bytes end first or it is malformed. A trailer is not
  // kept.
  size_t ParseFieldLine(std::string_view bytes, bool trailer);
  bool ParseFraming(std::string_view name, std::string_view value);
  bool StartBody();
  bool ParseChunkLine(std::string_view line);
  bool Fail(const char* why);  // false

  std::span<const FieldName> keep_;
  bool answers_head_;
  ResponseHead head_;
  State state_ = State::kHead;
  const char* fault_ = nullptr;
  std::optional<uint64_t> length_;
  bool chunked_ = false, close_ = false, keep_alive_token_ = false, until_close_ = false;
  uint64_t left_ = 0;         // of the length, or of the chunk
  size_t trailer_bytes_ = 0;  // read so far, bounded as a head is
};

}  // namespace ap::http
