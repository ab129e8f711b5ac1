// DPoP proof checks (RFC 9449 §4.3): the bytes of an app's DPoP header. An input with a newline
// is "<header JSON>\n<claims>", signed here with a fixed key (seeds carry its jwk), so the checks
// behind the signature are reached; any other input is the proof as sent. Each proof is checked
// without and with an access token, by verifiers made for this input alone.

#include <string>

#include "crypto/hash.hpp"
#include "crypto/jws.hpp"
#include "domain/dpop.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace ap;

constexpr UnixSeconds kNow = 1'800'000'000;
constexpr std::string_view kUrl = "https://broker.example/openai/v1/chat/completions";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const crypto::Ed25519Key& key =
      *new crypto::Ed25519Key(crypto::Ed25519Key::FromPrivateRaw(std::string(32, '\x17')).value());
  std::string_view input = fuzz::Text(data, size);
  std::string proof(input);
  if (input.find('\n') != std::string_view::npos) {
    auto [header, claims] = fuzz::Cut(input);
    proof = crypto::SignCompactJws(header, claims, key);
  }
  std::string_view proofs[] = {proof};
  for (bool with_token : {false, true}) {
    domain::DpopVerifier verifier([] { return kNow; });
    domain::DpopRequest request{proofs, "POST", kUrl,
                                with_token ? std::optional<std::string_view>("at-token") : std::nullopt};
    auto first = verifier.Check(request);
    if (first && verifier.Check(request)) fuzz::Broken("a proof is accepted once");
  }
  (void)domain::NormalizeHtu(input);
  return 0;
}
