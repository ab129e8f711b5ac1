// The upload reader against bodies that two multipart readers could read differently.
#include "proxy/multipart.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ap::proxy {
namespace {

// What the reader makes of `body` fed in pieces cut at `cuts`: "model=<value>", "no model" or the refusal.
std::string Outcome(std::string_view body, std::vector<size_t> cuts, std::string_view boundary = "XyZ") {
  MultipartField field(std::string(boundary), "model");
  cuts.push_back(body.size());
  size_t from = 0;
  for (size_t cut : cuts) {
    if (auto fed = field.Feed(body.substr(from, cut - from)); !fed) return "refused: " + fed.error().message;
    from = cut;
  }
  if (auto whole = field.Finish(); !whole) return "refused: " + whole.error().message;
  return field.Value() ? "model=" + *field.Value() : "no model";
}

// The outcome of the whole body, after checking that every way of cutting it in two or three
// pieces, and byte by byte, gives the same.
std::string Read(std::string_view body) {
  std::string whole = Outcome(body, {});
  for (size_t i = 0; i <= body.size(); ++i) {
    EXPECT_EQ(Outcome(body, {i}), whole) << "cut at " << i;
    for (size_t j = i; j <= body.size(); j += 7) EXPECT_EQ(Outcome(body, {i, j}), whole) << "cut at " << i << ", " << j;
  }
  std::vector<size_t> every(body.size());
  for (size_t i = 0; i < body.size(); ++i) every[i] = i;
  EXPECT_EQ(Outcome(body, every), whole) << "byte by byte";
  return whole;
}

std::string Part(std::string_view headers, std::string_view value) {
  return "--XyZ\r\n" + std::string(headers) + "\r\n\r\n" + std::string(value) + "\r\n";
}

const std::string kEnd = "--XyZ--\r\n";
const std::string kFile = Part("Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav",
                               std::string(300, 'a') + "\r\n--Xy!\r\n-");

bool Refused(const std::string& outcome) { return outcome.starts_with("refused: "); }

TEST(MultipartTest, ReadsTheModelOfAnOrdinaryUpload) {
  EXPECT_EQ(Read(kFile + Part("Content-Disposition: form-data; name=\"model\"", "whisper-1") + kEnd), "model=whisper-1");
  EXPECT_EQ(Read(Part("content-disposition:FORM-DATA;NAME=model", "whisper-1") + kEnd), "model=whisper-1");
  EXPECT_EQ(Read(Part("Content-Disposition: form-data; name=\"prompt\"", "hi") + "--XyZ--"), "no model");
  EXPECT_EQ(Read(Part("Content-Disposition: form-data; name=\"model\"", "") + kEnd), "model=");
}

// Finding 3, first attack: the old reader took `name=model` from inside the quoted `x`, so the
// prompt part counted as the model and the real model part went to the provider unread.
TEST(MultipartTest, ANameInsideAQuotedParameterIsNotTheName) {
  std::string attack = Part("Content-Disposition: form-data; x=\" name=model;\"; name=\"prompt\"", "whisper-1") +
                       kFile + Part("Content-Disposition: form-data; name=\"model\"", "gpt-4o-transcribe") + kEnd;
  EXPECT_TRUE(Refused(Read(attack))) << Read(attack);
  // Without the ';' the quotes are honoured: the prompt is a prompt and the model part is read.
  std::string quoted = Part("Content-Disposition: form-data; filename=\"a name=model\"; name=\"prompt\"", "whisper-1") +
                       Part("Content-Disposition: form-data; name=\"model\"", "gpt-4o-transcribe") + kEnd;
  EXPECT_EQ(Read(quoted), "model=gpt-4o-transcribe");
}

// Finding 3, second attack: the broker split on AA while the provider split on XB.
TEST(MultipartTest, TheBoundaryIsReadAsTheProviderReadsIt) {
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; x=\"; boundary=AA;\"; boundary=XB"));
  EXPECT_EQ(MultipartBoundary("multipart/form-data; x=\"a boundary=AA\"; boundary=XB").value(), "XB");
  EXPECT_EQ(MultipartBoundary("Multipart/Form-Data ; BOUNDARY=\"a'()+_,-./:=? b\" ; charset=utf-8").value(),
            "a'()+_,-./:=? b");
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=" + std::string(70, 'b')).value(), std::string(70, 'b'));
}

TEST(MultipartTest, RefusesAmbiguousOrInvalidBoundaries) {
  for (const std::string& content_type : std::vector<std::string>{
           "multipart/form-data; boundary=AA; boundary=XB",         // twice
           "multipart/form-data; boundary=AA; BOUNDARY=AA",         // twice, names are case-insensitive
           "multipart/form-data; boundary*=utf-8''AA",               // RFC 2231
           "multipart/form-data; boundary*0=AA",                    // RFC 2231 continuation
           "multipart/form-data; boundary=AA; boundary*=utf-8''XB",  // both forms
           "multipart/form-data; boundary=\"A\\\"A\"",              // backslash escape
           "multipart/form-data; boundary=\"AA",                     // unterminated
           "multipart/form-data; boundary=\"AA \"",                  // ends with a space
           "multipart/form-data; boundary=\"A@A\"",                  // not a bchar
           "multipart/form-data; boundary=" + std::string(71, 'b'),  // too long
           "multipart/form-data; boundary=\"\"",                     // empty
           "multipart/form-data; boundary = AA",                     // whitespace around '='
           "multipart/form-data boundary=AA",                        // no ';'
           "multipart/form-datax; boundary=AA",
           "multipart/mixed; boundary=AA",
           "multipart/form-data",
       })
    EXPECT_FALSE(MultipartBoundary(content_type)) << content_type;
}

TEST(MultipartTest, RefusesAmbiguousPartHeaders) {
  std::string model = Part("Content-Disposition: form-data; name=\"model\"", "whisper-1");
  for (const std::string& headers : std::vector<std::string>{
           "Content-Disposition: form-data; name=\"prompt\"; name=\"model\"",
           "Content-Disposition: form-data; name=\"prompt\"; NAME=\"model\"",
           "Content-Disposition: form-data; name*=utf-8''model",
           "Content-Disposition: form-data; name=\"prompt\"; name*=utf-8''model",
           "Content-Disposition: form-data; name=\"f\"; filename=\"a\"; filename=\"b\"",
           "Content-Disposition: form-data; name=\"f\"; filename*=utf-8''a",
           "Content-Disposition: form-data; name=\"mo\\del\"",
           "Content-Disposition: form-data; name=\"prompt\"; x=\"y\"",
           "Content-Disposition: form-data",
           "Content-Disposition: attachment; name=\"prompt\"",
           "Content-Disposition: form-data; name=\"prompt\"\r\nContent-Disposition: form-data; name=\"model\"",
           "Content-Disposition: form-data;\r\n name=\"prompt\"",                   // folded
           "Content-Disposition: form-data; name=\"prompt\"\nX: y",                 // bare LF
           "Content-Disposition: form-data; name=\"prompt\"\rX: y",                 // bare CR
           "Content-Disposition : form-data; name=\"prompt\"",                     // space before ':'
           "Content-Disposition: form-data; name=\"prompt\"\r\nContent-Transfer-Encoding: base64",
           "Content-Type: text/plain",                                            // no Content-Disposition
       }) {
    std::string outcome = Outcome(Part(headers, "x") + model + kEnd, {});
    EXPECT_TRUE(Refused(outcome)) << headers << " -> " << outcome;
  }
  EXPECT_TRUE(Refused(Read("--XyZ\r\n\r\nx\r\n" + model + kEnd)));  // a part without headers
}

TEST(MultipartTest, RefusesWhatReadersSplitDifferently) {
  std::string model = Part("Content-Disposition: form-data; name=\"model\"", "whisper-1");
  std::string lf_model = "--XyZ\nContent-Disposition: form-data; name=\"model\"\n\ngpt-4o-transcribe\n";
  for (const std::string& body : std::vector<std::string>{
           // A preamble: Go switches to bare-LF mode when the first delimiter line ends in LF.
           "preamble\r\n" + model + kEnd,
           "x\n" + lf_model + "--XyZ--\n\r\n" + model + kEnd,
           lf_model + "--XyZ--\n",                                          // bare-LF delimiters
           "--XyZ \r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n" + kEnd,  // padding
           model + "--XyZ\r\n",                                             // no closing delimiter
           model,
           model + "--XyZ--\r\n" + lf_model,                                 // an epilogue
           model + "--XyZ--\r\n\r\n",
           model + "--XyZ--x",
           "",
       }) {
    std::string outcome = Read(body);
    EXPECT_TRUE(Refused(outcome)) << body << " -> " << outcome;
  }
}

TEST(MultipartTest, RefusesASecondModelPart) {
  std::string body = Part("Content-Disposition: form-data; name=\"model\"", "whisper-1") + kFile +
                     Part("Content-Disposition: form-data; name=\"model\"", "gpt-4o-transcribe") + kEnd;
  EXPECT_EQ(Read(body), "refused: The field 'model' appears more than once");
}

TEST(MultipartTest, OnlyTheNamesGivenAreTaken) {
  std::string body = Part("Content-Disposition: form-data; name=\"model\"", "whisper-1") + kFile +
                     Part("Content-Disposition: form-data; name=\"Model\"", "big") + kEnd;
  MultipartField open("XyZ", "model");
  EXPECT_TRUE(open.Feed(body)) << "any name by default";
  MultipartField strict("XyZ", "model");
  strict.OnlyNames({"model", "file"});
  auto fed = strict.Feed(body);
  ASSERT_FALSE(fed);
  EXPECT_EQ(fed.error().message.substr(0, 48), "The field 'Model' is not one of OpenAI's API as ");
}

TEST(MultipartTest, AModelInsideAFileIsFileContent) {
  std::string body = Part("Content-Disposition: form-data; name=\"file\"; filename=\"a\"",
                          "--XyZ-\r\n--XyZz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n") +
                     Part("Content-Disposition: form-data; name=\"model\"", "gpt-4o-transcribe") + kEnd;
  EXPECT_TRUE(Refused(Read(body)));  // "\r\n--XyZz" is refused: readers disagree whether it is a delimiter
  std::string inside = Part("Content-Disposition: form-data; name=\"file\"; filename=\"a\"",
                            "--XyZ\nContent-Disposition: form-data; name=\"model\"\n\nwhisper-1\n") +
                       Part("Content-Disposition: form-data; name=\"model\"", "gpt-4o-transcribe") + kEnd;
  EXPECT_EQ(Read(inside), "model=gpt-4o-transcribe");
}

// What a file head watcher makes of `body` fed in pieces cut at `cuts`: its head, "no file", or the
// refusal.
std::string HeadOutcome(std::string_view body, std::vector<size_t> cuts, size_t head_bytes) {
  MultipartField file = MultipartField::FileHead("XyZ", "file", head_bytes);
  cuts.push_back(body.size());
  size_t from = 0;
  for (size_t cut : cuts) {
    if (auto fed = file.Feed(body.substr(from, cut - from)); !fed) return "refused: " + fed.error().message;
    from = cut;
  }
  return file.Value().value_or("no file");
}

TEST(MultipartTest, AFileHeadIsItsFirstBytesHoweverTheBodyIsCut) {
  std::string wav = Part("Content-Disposition: form-data; name=\"file\"; filename=\"Talk.WAV\"", "RIFF1234WAVEfmt ");
  std::string body = Part("Content-Disposition: form-data; name=\"model\"", "whisper-1") + wav + kEnd;
  for (size_t i = 0; i <= body.size(); ++i) {
    EXPECT_EQ(HeadOutcome(body, {i}, 8), "RIFF1234") << "cut at " << i;
    EXPECT_EQ(HeadOutcome(body, {i}, 100), "RIFF1234WAVEfmt ") << "cut at " << i;  // shorter: all of it
  }
  // The head is known as soon as its bytes are, before the part ends.
  MultipartField early = MultipartField::FileHead("XyZ", "file", 4);
  ASSERT_TRUE(early.Feed("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF" +
                         std::string(20, 'x')));
  EXPECT_EQ(early.Value(), std::optional<std::string>("RIFF"));
  EXPECT_EQ(HeadOutcome(Part("Content-Disposition: form-data; name=\"model\"", "x") + kEnd, {}, 8), "no file");
  EXPECT_EQ(HeadOutcome(wav + wav + kEnd, {}, 8), "refused: The field 'file' appears more than once");
  EXPECT_EQ(HeadOutcome(wav + wav + kEnd, {}, 100), "refused: The field 'file' appears more than once");
}

}  // namespace
}  // namespace ap::proxy
