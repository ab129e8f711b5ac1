// URLs from apps and the operator: app home pages and logos, redirect targets, upstream base
// URLs, DPoP's htu.

#include <string>

#include "domain/dpop.hpp"
#include "fuzz_input.hpp"
#include "http/url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  std::string_view input = fuzz::Text(data, size);
  bool web = http::IsWebUrl(input);
  std::string host = http::UrlHost(input);
  if (web && host.empty()) fuzz::Broken("a web URL has a host");
  if (http::IsSameOriginPath(input) && (input.size() < 1 || input[0] != '/' || input.substr(0, 2) == "//"))
    fuzz::Broken("a same-origin path starts with one '/'");
  if (auto origin = http::ParseBaseUrl(input)) {
    std::string host_header;
    origin->AppendHostHeader(host_header);
    (void)origin->Key();
  }
  std::string encoded = http::PercentEncode(input, "/");
  for (char c : encoded)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e)
      fuzz::Broken("percent-encoded text is printable ASCII");
  (void)domain::NormalizeHtu(input);
  return 0;
}
