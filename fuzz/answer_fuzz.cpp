// The upstream client's reader of answers (http/answer_reader.hpp), fed an upstream's bytes in
// pieces. The first byte seeds the piece sizes; its low bit says whether the call was a HEAD.
// Promises checked: any split of the bytes reads the same answer; an answer it reads to its end,
// Beast's parser reads too, to the same end, with the same status, body and keep-alive (it is
// never more lenient than Beast on where an answer ends).

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdio>
#include <string>

#include "fuzz_input.hpp"
#include "http/answer_reader.hpp"

namespace {

using namespace ap;
namespace bhttp = boost::beast::http;

struct Answer {
  bool read = false;  // to its end
  unsigned status = 0;
  std::string body;
  size_t used = 0;
  bool keep_alive = false;
  bool operator==(const Answer&) const = default;
};

// As the client reads: the head, then the body, the bytes arriving piece by piece; the connection
// closes after the last.
Answer ReadWithReader(std::string_view bytes, bool answers_head, unsigned seed) {
  static const http::FieldName kKeep[] = {http::FieldName("content-type"), http::FieldName("x-request-id")};
  http::AnswerReader reader(kKeep, answers_head);
  Answer out;
  std::string unread;
  size_t arrived = 0;
  bool head = false;
  for (;;) {
    if (!head) {
      out.used = reader.ReadHead(unread);
      head = out.used > 0;
      unread.erase(0, out.used);
    }
    while (head && !reader.Done() && !reader.Fault()) {
      std::string_view content;
      size_t n = reader.ReadBody(unread, content);
      out.body += content;
      unread.erase(0, n);
      out.used += n;
      if (n == 0) break;
    }
    if (reader.Fault()) return {};
    if (reader.Done()) break;
    if (arrived == bytes.size()) {
      if (!head || !reader.Closed()) return {};
      break;
    }
    size_t piece = seed == 0 ? bytes.size() : 1 + (seed + arrived * 7) % (seed + 1);
    piece = std::min(piece, bytes.size() - arrived);
    unread.append(bytes.substr(arrived, piece));
    arrived += piece;
  }
  out.read = true;
  out.status = reader.Head().result_int();
  out.keep_alive = reader.KeepAlive();
  return out;
}

// Beast's parser over all the bytes at once, skipping interim answers (1xx) as the reader does.
Answer ReadWithBeast(std::string_view bytes, bool answers_head) {
  Answer out;
  for (;;) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(boost::none);
    if (answers_head) parser.skip(true);
    boost::beast::error_code ec;
    std::string_view rest = bytes.substr(out.used);
    while (!rest.empty() && !parser.is_done()) {
      size_t n = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
      if (ec == bhttp::error::need_more) ec = {};
      if (ec || n == 0) break;
      out.used += n;
      rest.remove_prefix(n);
    }
    if (!ec && !parser.is_done() && parser.is_header_done()) {
      parser.put_eof(ec);
      if (!ec) out.used = bytes.size();
    }
    if (ec || !parser.is_done()) return {};
    unsigned status = parser.get().result_int();
    if (status / 100 == 1 && status != 101) continue;
    out.read = true;
    out.status = status;
    out.body = parser.get().body();
    // Beast keeps an HTTP/1.0 answer in chunks alive; RFC 9112 (6.1) and the reader do not. Nor
    // does the reader reuse a connection after a 204 that declares a body (6.1, 6.2): its bytes
    // may follow.
    bool declares_body = parser.chunked() || parser.content_length().value_or(0) > 0;
    out.keep_alive = parser.keep_alive() && !(parser.get().version() < 11 && parser.chunked()) &&
                     !(status == 204 && declares_body);
    return out;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view bytes = fuzz::Text(data + 1, size - 1);
  bool answers_head = data[0] & 1;
  Answer whole = ReadWithReader(bytes, answers_head, 0);
  if (ReadWithReader(bytes, answers_head, data[0] >> 1) != whole) fuzz::Broken("any split reads the same answer");
  if (!whole.read) return 0;
  if (Answer beast = ReadWithBeast(bytes, answers_head); beast != whole) {
    for (const Answer* a : {&whole, &beast})
      std::fprintf(stderr, "%s: read %d, status %u, body of %zu bytes, %zu bytes used, keep-alive %d\n",
                   a == &whole ? "reader" : "Beast", a->read, a->status, a->body.size(), a->used, a->keep_alive);
    fuzz::Broken("Beast reads the same answer");
  }
  return 0;
}
