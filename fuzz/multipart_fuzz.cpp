// The multipart/form-data field reader: "<Content-Type>\n<body>", the body fed whole and in
// pieces. Promise checked: any split of a body gives the same result.

#include <optional>
#include <string>

#include "fuzz_input.hpp"
#include "proxy/multipart.hpp"

namespace {

using namespace ap;

struct Outcome {
  bool fed = false;
  bool finished = false;
  std::optional<std::string> value;
  bool operator==(const Outcome&) const = default;
};

Outcome Read(const std::string& boundary, std::string_view body, size_t piece) {
  proxy::MultipartField field(boundary, "model");
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
  Outcome whole = Read(*boundary, body, body.size() + 1);
  size_t piece = 1 + content_type.size() % 13;
  if (!(Read(*boundary, body, piece) == whole)) fuzz::Broken("any split of a body gives the same result");
  return 0;
}
