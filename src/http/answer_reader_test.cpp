#include "http/answer_reader.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace ap::http {
namespace {

// An answer as a client of AnswerReader sees it, read from `bytes` arriving `step` bytes at a time
// (all at once for 0), then the connection closing when `closes`.
struct Read {
  unsigned status = 0;
  std::string fields;  // "Name: value; " for each kept
  std::string body;
  size_t used = 0;  // of the bytes, when the answer ended
  bool keep_alive = false;
  std::string fault;
};

Read ReadAnswer(std::string_view bytes, size_t step = 0, bool closes = true, std::span<const FieldName> keep = {},
                bool answers_head = false) {
  AnswerReader reader(keep, answers_head);
  Read out;
  std::string unread;
  size_t arrived = 0, used = 0;
  bool head = false;
  for (;;) {
    if (!head) {
      size_t n = reader.ReadHead(unread);
      if (n > 0) {
        head = true;
        unread.erase(0, n);
        used += n;
      }
    }
    while (head && !reader.Done() && !reader.Fault()) {
      std::string_view content;
      size_t n = reader.ReadBody(unread, content);
      out.body += content;
      unread.erase(0, n);
      used += n;
      if (n == 0) break;
    }
    if (reader.Fault() || reader.Done()) break;
    if (arrived == bytes.size()) {
      if (closes && head) reader.Closed();
      break;
    }
    size_t n = step == 0 ? bytes.size() : std::min(step, bytes.size() - arrived);
    unread.append(bytes.substr(arrived, n));
    arrived += n;
  }
  if (reader.Fault()) out.fault = reader.Fault();
  if (!head) return out;
  out.status = reader.Head().result_int();
  for (const auto& field : reader.Head())
    out.fields += std::string(field.name_string()) + ": " + std::string(field.value()) + "; ";
  out.used = reader.Done() ? used : 0;
  out.keep_alive = reader.KeepAlive();
  return out;
}

TEST(AnswerReader, ReadsAnAnswerFramedByItsLengthAndKeepsOnlyTheFieldsAskedFor) {
  static const FieldName kKeep[] = {FieldName("content-type"), FieldName("x-request-id")};
  std::string answer =
      "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nServer: up\r\nX-Request-ID:  abc \r\n"
      "Content-Length: 5\r\n\r\nhello";
  for (size_t step : {0, 1, 7}) {
    Read read = ReadAnswer(answer + "HTTP/1.1 200 OK\r\n", step, false, kKeep);
    EXPECT_EQ(read.fault, "") << step;
    EXPECT_EQ(read.status, 201u);
    EXPECT_EQ(read.fields, "Content-Type: text/plain; X-Request-ID: abc; ");
    EXPECT_EQ(read.body, "hello");
    EXPECT_EQ(read.used, answer.size()) << "the next answer's bytes are left";
    EXPECT_TRUE(read.keep_alive);
  }
  EXPECT_EQ(ReadAnswer(answer).fields, "Content-Type: text/plain; Server: up; X-Request-ID: abc; Content-Length: 5; ")
      << "with no names given, every field is kept";
}

TEST(AnswerReader, ReadsChunksWithTheirExtensionsAndTrailers) {
  std::string answer =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1 ; a ; b = \"q\\\"d\"\r\n,\r\n"
      "6\r\n world\r\n"
      "0\r\nX-Trailer: 1\r\n\r\n";
  for (size_t step : {0, 1, 3, 10}) {
    Read read = ReadAnswer(answer + "next", step, false);
    EXPECT_EQ(read.fault, "") << step;
    EXPECT_EQ(read.body, "hello, world") << step;
    EXPECT_EQ(read.used, answer.size()) << step;
    EXPECT_TRUE(read.keep_alive);
    EXPECT_EQ(read.fields, "Transfer-Encoding: chunked; ") << "a trailer is not added to the head";
  }
}

TEST(AnswerReader, ReadsABodyWithoutFramingUntilTheConnectionCloses) {
  Read read = ReadAnswer("HTTP/1.1 200 OK\r\n\r\nall of it", 4);
  EXPECT_EQ(read.fault, "");
  EXPECT_EQ(read.body, "all of it");
  EXPECT_FALSE(read.keep_alive) << "its end is the connection's";
  EXPECT_EQ(ReadAnswer("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nall of", 4).fault,
            "the connection closed before the answer's end");
  EXPECT_EQ(ReadAnswer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nall\r\n", 4).fault,
            "the connection closed before the answer's end");
}

TEST(AnswerReader, KeepsTheConnectionAsTheVersionAndConnectionSay) {
  EXPECT_FALSE(ReadAnswer("HTTP/1.1 200 OK\r\nConnection: upgrade, Close\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_FALSE(ReadAnswer("HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_FALSE(ReadAnswer("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_TRUE(ReadAnswer("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_TRUE(ReadAnswer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_FALSE(
      ReadAnswer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nConnection: close\r\n\r\n").keep_alive)
      << "a trailer can say it too";
  EXPECT_FALSE(
      ReadAnswer("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").keep_alive)
      << "chunks in HTTP/1.0 are faulty framing";
}

TEST(AnswerReader, SkipsInterimAnswersAndRefusesASwitchOfProtocols) {
  std::string answer =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  for (size_t step : {0, 1}) {
    Read read = ReadAnswer(answer, step);
    EXPECT_EQ(read.status, 200u);
    EXPECT_EQ(read.fields, "Content-Length: 2; ") << "the interim answers' fields are not the answer's";
    EXPECT_EQ(read.body, "ok");
    EXPECT_EQ(read.used, answer.size());
  }
  EXPECT_EQ(ReadAnswer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n").fault, "a switch of protocols");
  std::string flood;
  while (flood.size() <= AnswerReader::kMaxHead) flood += "HTTP/1.1 103 Early Hints\r\n\r\n";
  EXPECT_EQ(ReadAnswer(flood + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").fault, "interim answers over 8 KB");
}

// A HEAD's answer and a 304 may say the length of a body they do not send (RFC 9110, 8.6), and
// their connection is reused. A 204 may not: one that declares a body may send it, so its
// connection is not reused (an explicit length of 0 is harmless).
TEST(AnswerReader, AnAnswerToHeadAnd204And304HaveNoBodyWhateverTheirLength) {
  std::string with_length = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n";
  Read head = ReadAnswer(with_length + "next", 0, false, {}, true);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.used, with_length.size());
  EXPECT_TRUE(head.keep_alive);
  struct Case {
    std::string_view status, framing;
    bool reused;
  };
  const Case cases[] = {{"304 Not Modified", "Content-Length: 7", true},
                        {"304 Not Modified", "Transfer-Encoding: chunked", true},
                        {"204 No Content", "Content-Length: 0", true},
                        {"204 No Content", "Content-Length: 7", false},
                        {"204 No Content", "Transfer-Encoding: chunked", false}};
  for (const Case& c : cases) {
    std::string answer = "HTTP/1.1 " + std::string(c.status) + "\r\n" + std::string(c.framing) + "\r\n\r\n";
    Read read = ReadAnswer(answer + "next", 0, false);
    EXPECT_EQ(read.body, "") << answer;
    EXPECT_EQ(read.used, answer.size()) << answer;
    EXPECT_EQ(read.keep_alive, c.reused) << answer;
  }
}

TEST(AnswerReader, AcceptsTheSameLengthTwice) {
  EXPECT_EQ(ReadAnswer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 02\r\n\r\nok").body, "ok");
}

// Each of these could make the broker and the upstream disagree on where the answer ends.
TEST(AnswerReader, RefusesWhatCouldBeReadTwoWays) {
  const std::string ok = "HTTP/1.1 200 OK\r\n";
  const std::string chunked = ok + "Transfer-Encoding: chunked\r\n\r\n";
  struct Case {
    std::string answer;
    std::string_view fault;
  };
  const Case cases[] = {
      {ok + "Content-Length: 2\n\r\nok", "a line that ends without CR"},
      {"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok", "a line that ends without CR"},
      {ok + "X-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\nok", "a folded line"},
      {ok + "Content-Length : 2\r\n\r\nok", "a malformed field name"},
      {ok + ": 2\r\n\r\nok", "a malformed field name"},
      {ok + "Content-Length 2\r\n\r\nok", "a malformed field name"},
      {ok + "X-A\r\n\r\nok", "a field line without a colon"},
      {ok + "X-A: a\rb\r\nContent-Length: 2\r\n\r\nok", "a control character in a field's value"},
      {ok + "X-A: a\x01"
            "b\r\nContent-Length: 2\r\n\r\nok",
       "a control character in a field's value"},
      {ok + "Content-Length: 2\r\nContent-Length: 3\r\n\r\nok", "two different Content-Lengths"},
      {ok + "Content-Length: 2, 2\r\n\r\nok", "a malformed Content-Length"},
      {ok + "Content-Length: +2\r\n\r\nok", "a malformed Content-Length"},
      {ok + "Content-Length: 18446744073709551616\r\n\r\nok", "a malformed Content-Length"},
      {ok + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
       "both a Content-Length and chunks"},
      {ok + "Connection: keep alive\r\nContent-Length: 0\r\n\r\n", "a malformed Connection"},
      {ok + "Transfer-Encoding: \r\nContent-Length: 2\r\n\r\nok", "an empty Transfer-Encoding"},
      {ok + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "a transfer coding other than chunked"},
      {ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "chunked twice"},
      {chunked + "x\r\nok\r\n0\r\n\r\n", "a malformed chunk size"},
      {chunked + "-2\r\nok\r\n0\r\n\r\n", "a malformed chunk size"},
      {chunked + "10000000000000000\r\nok\r\n0\r\n\r\n", "a chunk size over 64 bits"},
      {chunked + "2 x\r\nok\r\n0\r\n\r\n", "a malformed chunk extension"},
      {chunked + "2;\r\nok\r\n0\r\n\r\n", "a malformed chunk extension"},
      {chunked + "0 \r\n\r\n", "a malformed chunk extension"},
      {chunked + "2;a \r\nok\r\n0\r\n\r\n", "a malformed chunk extension"},
      {chunked + "2;a=\"open\r\nok\r\n0\r\n\r\n", "a malformed chunk extension"},
      {chunked + "2\nok\r\n0\r\n\r\n", "a line that ends without CR"},
      {chunked + "2\r\nokk\r\n0\r\n\r\n", "a chunk longer than its size"},
      {chunked + "0\r\nContent-Length: 5\r\n\r\n", "a trailer that frames the body"},
      {chunked + "0\r\nConnection: a b\r\n\r\n", "a malformed Connection"},
      {chunked + "0\r\nX-A: 1\n\r\n", "a line that ends without CR"},
      {chunked + std::string(AnswerReader::kMaxChunkLine, '1'), "a chunk line over 4 KB"},
      {chunked + "0\r\nX-A: " + std::string(AnswerReader::kMaxHead, 'a') + "\r\n\r\n", "trailers over 8 KB"},
      {ok + "X-A: " + std::string(AnswerReader::kMaxHead, 'a') + "\r\n\r\n", "a head over 8 KB"},
      {"HTTP/2 200 OK\r\n\r\n", "a malformed status line"},
      {"HTTP/1.2 200 OK\r\n\r\n", "a malformed status line"},
      {"HTTP/1.1 200\r\n\r\n", "a malformed status line"},
      {"HTTP/1.1  200 OK\r\n\r\n", "a malformed status line"},
      {"HTTP/1.1 2x0 OK\r\n\r\n", "a malformed status code"},
      {"HTTP/1.1 099 Low\r\n\r\n", "a status code under 100"},
      {"HTTP/1.1 200 O\x7fK\r\n\r\n", "a control character in the reason phrase"},
  };
  for (const Case& c : cases) {
    for (size_t step : {0, 1}) {
      Read read = ReadAnswer(c.answer, step);
      EXPECT_EQ(read.fault, c.fault) << c.answer << " (step " << step << ")";
    }
  }
}

// Every byte at every place of a name and of a value longer than the reader takes at once, with
// more bytes after the head (as the body follows it): a name is token characters, a value anything
// but a control character other than HTAB (RFC 9110, 5.1 and 5.5).
TEST(AnswerReader, ReadsEachByteOfANameAndOfAValueAsTheRfcSays) {
  auto token = [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  };
  const std::string ok = "HTTP/1.1 200 OK\r\n", rest = "Content-Length: 2\r\n\r\nok" + std::string(40, 'x');
  for (int b = 0; b < 256; ++b) {
    auto c = static_cast<unsigned char>(b);
    for (size_t at = 0; at < 40; ++at) {
      std::string name(40, 'n'), value(40, 'v');
      name[at] = static_cast<char>(c);
      value[at] = static_cast<char>(c);
      std::string in_name = ok + name + ": 1\r\n" + rest, in_value = ok + "X-A: " + value + "\r\n" + rest;
      bool value_ok = (c >= 0x20 && c != 0x7f) || c == '\t';
      bool name_ok = token(c) || (c == ':' && at > 0);  // a colon then ends a shorter name
      EXPECT_EQ(ReadAnswer(in_name).fault.empty(), name_ok) << "byte " << b << " at " << at << " of a name";
      EXPECT_EQ(ReadAnswer(in_value).fault.empty(), value_ok) << "byte " << b << " at " << at << " of a value";
      if (value_ok) {
        EXPECT_EQ(ReadAnswer(in_value).body, "ok");
      }
    }
  }
}

// Names are kept in any case of their letters, and only theirs: '^' and '~' differ as 'A' and 'a' do.
TEST(AnswerReader, KeepsAFieldWhateverTheCaseOfItsNameLetters) {
  static const FieldName kKeep[] = {FieldName("x-request-id"), FieldName("x^a")};
  std::string answer =
      "HTTP/1.1 200 OK\r\nX-REQUEST-ID: 1\r\nx~a: 2\r\nX^A: 3\r\nx-request-iD: 4\r\nContent-Length: 0\r\n\r\n";
  // Beast lists the fields of one name together.
  EXPECT_EQ(ReadAnswer(answer, 0, true, kKeep).fields, "X-REQUEST-ID: 1; x-request-iD: 4; X^A: 3; ");
}

TEST(AnswerReader, AHeadOfEightKilobytesIsRead) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: ";
  head += std::string(AnswerReader::kMaxHead - head.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(head.size(), AnswerReader::kMaxHead);
  EXPECT_EQ(ReadAnswer(head).fault, "");
  EXPECT_EQ(ReadAnswer(head).used, head.size());
}

}  // namespace
}  // namespace ap::http
