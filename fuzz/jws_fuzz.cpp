// Compact JWS framing and access-token verification: the bytes an app puts after "Bearer ".
// An input with a newline is "<header JSON>\n<claims>", signed here with the broker's key, so the
// checks behind the signature (typ, kid, iss, aud, exp, nbf, iat, cnf) are reached too; any other
// input is verified as the token it is.

#include <memory>
#include <string>

#include "crypto/jws.hpp"
#include "crypto/signing_keys.hpp"
#include "domain/token_service.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace ap;

constexpr UnixSeconds kNow = 1'800'000'000;

struct Broker {
  crypto::Ed25519Key key = crypto::Ed25519Key::FromPrivateRaw(std::string(32, '\x42')).value();
  domain::TokenService tokens{
      std::make_shared<const crypto::SigningKeyRing>(crypto::SigningKeyRing::FromKeys({{"k1", key, 0}})),
      domain::TokenSettings{}, [] { return kNow; }};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Broker& broker = *new Broker;
  std::string_view input = fuzz::Text(data, size);
  std::string token(input);
  if (input.find('\n') != std::string_view::npos) {
    auto [header, claims] = fuzz::Cut(input);
    token = crypto::SignCompactJws(header, claims, broker.key);
  }
  if (auto jws = crypto::ParseCompactJws(token)) {
    bool valid = broker.key.Verify(jws->signing_input, jws->signature);
    if (input.find('\n') != std::string_view::npos && !valid) fuzz::Broken("a token signed here verifies");
  }
  auto claims = broker.tokens.Verify(token);
  if (claims && (*claims)->expires_at < kNow - 10) fuzz::Broken("an accepted token has not expired");
  return 0;
}
