// The multipart/form-data field reader: "<Content-Type>\n<body>", the body fed whole and in
// pieces, watched for the text field "model" and for the head of the file part "file", which is
// then read as a WAV header. Promise checked: any split of a body gives the same result.

#include <optional>
#include <string>

#include "fuzz_input.hpp"
#include "proxy/multipart.hpp"
#include "proxy/wav_header.hpp"

namespace {

using namespace ap;

struct Outcome {
  bool fed = false;
  bool finished = false;
  std::optional<std::string> value;
  bool operator==(const Outcome&) const = default;
};

Outcome Read(proxy::MultipartField field, std::string_view body, size_t piece) {
  Outcome outcome;
  outcome.fed = true;
  for (size_t at = 0; at < body.size() && outcome.fed; at += piece)
    outcome.fed = static_cast<bool>(field.Feed(body.substr(at, piece)));
  outcome.finished = outcome.fed && field.Finish();
  if (outcome.fed) outcome.value = field.Value();
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [content_type, body] = fuzz::Cut(fuzz::Text(data, size));
  auto boundary = proxy::MultipartBoundary(content_type);
  if (!boundary) return 0;
  size_t piece = 1 + content_type.size() % 13;
  for (auto field :
       {proxy::MultipartField(*boundary, "model"), proxy::MultipartField::FileHead(*boundary, "file", 64)}) {
    Outcome whole = Read(field, body, body.size() + 1);
    if (!(Read(field, body, piece) == whole)) fuzz::Broken("any split of a body gives the same result");
    if (whole.value) (void)proxy::WavBytesPerSecond(*whole.value);
  }
  return 0;
}
