// The pieces the relay uses to look inside what it passes on: SSE events, multipart fields, usage.
#include <gtest/gtest.h>

#include "proxy/multipart.hpp"
#include "proxy/sse.hpp"
#include "proxy/sse_reference.hpp"
#include "proxy/usage.hpp"

namespace ap::proxy {
namespace {

TEST(SseSplitterTest, YieldsWholeEventsWhateverTheChunking) {
  std::string stream = "data: {\"a\":1}\n\nevent: ping\ndata: x\r\n\r\ndata: [DONE]\n\n";
  for (size_t step = 1; step <= stream.size(); ++step) {
    SseSplitter splitter;
    std::vector<std::string> events;
    for (size_t i = 0; i < stream.size(); i += step) {
      splitter.Feed(std::string_view(stream).substr(i, step));
      while (auto e = splitter.Next()) events.emplace_back(*e);
    }
    ASSERT_EQ(events.size(), 3u) << "step " << step;
    EXPECT_EQ(events[0], "data: {\"a\":1}\n\n");
    EXPECT_EQ(EventName(events[1]), "ping");
    EXPECT_EQ(EventData(events[1]), "x");
    EXPECT_EQ(EventData(events[2]), "[DONE]");
    EXPECT_TRUE(splitter.Rest().empty());
  }
}

// The events of `stream` fed in pieces cut at `cuts`, then what is left unfinished.
std::vector<std::string> Events(std::string_view stream, std::vector<size_t> cuts) {
  SseSplitter splitter;
  std::vector<std::string> events;
  cuts.push_back(stream.size());
  size_t from = 0;
  for (size_t cut : cuts) {
    splitter.Feed(stream.substr(from, cut - from));
    from = cut;
    while (auto e = splitter.Next()) events.emplace_back(*e);
  }
  events.emplace_back("rest:" + std::string(splitter.Rest()));
  return events;
}

TEST(SseSplitterTest, EveryLineEndingEndsEventsAndEveryCutGivesTheSameEvents) {
  std::string stream =
      "data: a\n\nevent: e\r\ndata: b\r\n\r\ndata: c\r\rdata: d\r\n\ndata: e\n\r\n"
      "data: f\r\r\ndata: g\n\n\ndata: h\r\r";
  std::vector<std::string> expected = {"data: a\n\n",     "event: e\r\ndata: b\r\n\r\n", "data: c\r\r",
                                       "data: d\r\n\n", "data: e\n\r\n",           "data: f\r\r\n",
                                       "data: g\n\n",    "\n",
                                       "rest:data: h\r\r"};  // a CR at the end may still get its LF
  EXPECT_EQ(Events(stream, {}), expected);
  for (size_t i = 0; i <= stream.size(); ++i)
    for (size_t j = i; j <= stream.size(); ++j) ASSERT_EQ(Events(stream, {i, j}), expected) << i << ", " << j;
  std::vector<size_t> every(stream.size());
  for (size_t i = 0; i < stream.size(); ++i) every[i] = i;
  EXPECT_EQ(Events(stream, every), expected);
}

// Lines longer than the splitter's sixteen-byte steps, their ends at every offset in a step: the
// same events as a byte-at-a-time reading of the spec gives (proxy/sse_reference.hpp), however cut.
TEST(SseSplitterTest, LongLinesEndWhereverTheyEndInAStepOfSixteen) {
  std::string stream;
  const std::string_view ends[] = {"\n", "\r\n", "\r"};
  for (size_t length = 1; length <= 40; ++length) {
    std::string_view end = ends[length % 3];
    stream += "data: " + std::string(length, static_cast<char>('a' + length % 26)) + std::string(end);
    if (length % 2 == 0) stream += std::string(ends[(length / 2) % 3]);  // a blank line: the event ends
  }
  stream += "data: " + std::string(20, 'z');  // unfinished
  reference::SplitStream split = reference::SplitByteByByte(stream);
  std::vector<std::string> expected = split.events;
  expected.push_back("rest:" + split.rest);
  ASSERT_EQ(expected.size(), 21u);
  EXPECT_EQ(Events(stream, {}), expected);
  for (size_t i = 0; i <= stream.size(); ++i) ASSERT_EQ(Events(stream, {i}), expected) << i;
  for (size_t i = 0; i + 17 <= stream.size(); i += 7) ASSERT_EQ(Events(stream, {i, i + 17}), expected) << i;
}

// Its fields are read with the same line ends: a lone CR too, as the SDKs read them.
TEST(SseSplitterTest, AnEventsFieldsAreSplitAtEveryLineEnd) {
  EXPECT_EQ(EventData("event: message_delta\rdata: {\"usage\":1}\r\r"), "{\"usage\":1}");
  EXPECT_EQ(EventData("event: e\r\ndata: a\rdata: b\ndata: c\r\n\r\n"), "a\nb\nc");
  EXPECT_EQ(EventData("data: x"), "x") << "the last line of a stream, without its end";
}

TEST(SseSplitterTest, AnEventThatNeverEndsIsRefusedPastTheLimit) {
  SseSplitter splitter;
  std::string piece = "data: " + std::string(64 << 10, 'x');
  size_t fed = 0;
  while (fed <= SseSplitter::kMaxEvent) {
    EXPECT_FALSE(splitter.TooLong()) << fed;
    splitter.Feed(piece);
    fed += piece.size();
    EXPECT_FALSE(splitter.Next());
    piece = std::string(64 << 10, 'x');
  }
  EXPECT_TRUE(splitter.TooLong());
  splitter.Feed("\n\ndata: next\n\n");  // an end now comes too late
  EXPECT_FALSE(splitter.Next());

  SseSplitter whole;  // 9 MB in one piece, end included
  whole.Feed("data: " + std::string(9 << 20, 'x') + "\n\n");
  EXPECT_FALSE(whole.Next());
  EXPECT_TRUE(whole.TooLong());

  SseSplitter below;  // just under the limit is an event
  below.Feed("data: " + std::string(SseSplitter::kMaxEvent - 8, 'x') + "\n\n");
  EXPECT_TRUE(below.Next());
  EXPECT_FALSE(below.TooLong());
}

TEST(SseSplitterTest, KeepsAnUnfinishedEvent) {
  SseSplitter splitter;
  splitter.Feed("data: one\n\ndata: tw");
  EXPECT_EQ(EventData(*splitter.Next()), "one");
  EXPECT_FALSE(splitter.Next());
  EXPECT_EQ(splitter.Rest(), "data: tw");
}

std::string Form(std::string_view boundary, std::vector<std::pair<std::string, std::string>> parts) {
  std::string body;
  for (auto& [headers, value] : parts)
    body += "--" + std::string(boundary) + "\r\n" + headers + "\r\n\r\n" + value + "\r\n";
  return body + "--" + std::string(boundary) + "--\r\n";
}

std::optional<std::string> FieldIn(const std::string& body, size_t step, Status* status = nullptr) {
  MultipartField field("XyZ", "model");
  for (size_t i = 0; i < body.size(); i += step) {
    auto fed = field.Feed(std::string_view(body).substr(i, step));
    if (!fed) {
      if (status) *status = fed;
      return std::nullopt;
    }
  }
  return field.Value();
}

TEST(MultipartFieldTest, FindsTheFieldAfterAFileWhateverTheChunking) {
  std::string file(5000, 'a');
  file += "\r\n--Xy!";  // starts like a delimiter but is not one
  std::string body = Form("XyZ", {{"Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                                   "Content-Type: audio/wav",
                                   file},
                                  {"Content-Disposition: form-data; name=\"model\"", "whisper-1"}});
  for (size_t step : {1u, 7u, 64u, 4096u, 100000u}) EXPECT_EQ(FieldIn(body, step), "whisper-1") << step;
}

TEST(MultipartFieldTest, AFieldHiddenInsideAFileIsNotTheField) {
  std::string file = "Content-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n";
  std::string body = Form("XyZ", {{"Content-Disposition: form-data; name=\"file\"; filename=\"a\"", file},
                                  {"Content-Disposition: form-data; name=\"model\"", "gpt-4o-transcribe"}});
  EXPECT_EQ(FieldIn(body, 3), "gpt-4o-transcribe");
}

TEST(MultipartFieldTest, RefusesTheFieldTwice) {
  std::string body = Form("XyZ", {{"Content-Disposition: form-data; name=\"model\"", "whisper-1"},
                                  {"Content-Disposition: form-data; name=\"model\"", "gpt-4o-transcribe"}});
  Status status;
  EXPECT_FALSE(FieldIn(body, 11, &status));
  EXPECT_FALSE(status);
}

TEST(MultipartFieldTest, BoundaryFromContentType) {
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=----formdata-undici-0898").value(),
            "----formdata-undici-0898");
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=\"a b\"").value(), "a b");
  EXPECT_FALSE(MultipartBoundary("application/json"));
  EXPECT_FALSE(MultipartBoundary("multipart/form-data"));
}

TEST(UsageTest, ReadsEachProvidersFigures) {
  Usage openai;
  MergeUsageFromJson(
      R"({"usage":{"prompt_tokens":12,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}})", openai);
  EXPECT_EQ(openai.input_tokens, 12);
  EXPECT_EQ(openai.output_tokens, 5);
  EXPECT_EQ(openai.cached_input_tokens, 4);

  Usage anthropic;  // message_start, then running totals in message_delta
  MergeUsageFromJson(R"({"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}})",
                     anthropic);
  MergeUsageFromJson(R"({"type":"message_delta","usage":{"output_tokens":15}})", anthropic);
  EXPECT_EQ(anthropic.input_tokens, 25);
  EXPECT_EQ(anthropic.output_tokens, 15);

  Usage cached;  // Anthropic reports cache reads and writes apart from input_tokens: they are added
  MergeUsageFromJson(
      R"({"usage":{"input_tokens":10,"cache_read_input_tokens":1000,"cache_creation_input_tokens":200,"output_tokens":5}})",
      cached);
  EXPECT_EQ(cached.input_tokens, 1210);
  EXPECT_EQ(cached.cached_input_tokens, 1000);
  EXPECT_EQ(cached.cache_write_tokens, 200);

  Usage gemini;
  MergeUsageFromJson(R"({"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":3,"thoughtsTokenCount":2}})",
                     gemini);
  EXPECT_EQ(gemini.input_tokens, 8);
  EXPECT_EQ(gemini.output_tokens, 5);

  Usage responses;
  MergeUsageFromJson(R"({"type":"response.completed","response":{"usage":{"input_tokens":9,"output_tokens":4}}})",
                     responses);
  EXPECT_EQ(responses.input_tokens, 9);
  EXPECT_EQ(responses.output_tokens, 4);

  Usage whisper;
  MergeUsageFromJson(R"({"text":"hi","usage":{"type":"duration","seconds":3.5}})", whisper);
  EXPECT_DOUBLE_EQ(whisper.audio_seconds, 3.5);

  Usage none;
  MergeUsageFromJson(R"({"usage":null})", none);
  MergeUsageFromJson("not json with usage", none);
  EXPECT_TRUE(none.Empty());
}

}  // namespace
}  // namespace ap::proxy
