// Public JWKs an app presents (a DPoP proof's `jwk`): parsing, the RFC 7638 thumbprint, and
// verification with the key (the input's last 64 bytes as a signature of the rest).

#include <boost/json.hpp>

#include "crypto/public_jwk.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  std::string_view input = fuzz::Text(data, size);
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(input, ec);
  if (ec || !value.is_object()) return 0;
  auto key = crypto::JwkPublicKey::Parse(value.get_object());
  if (!key) return 0;
  if (key->Thumbprint().size() != 43) fuzz::Broken("a thumbprint is 43 base64url characters");
  std::string_view signature = input.size() >= 64 ? input.substr(input.size() - 64) : input;
  for (std::string_view alg : {"EdDSA", "Ed25519", "ES256", "none", "HS256"}) {
    bool ok = key->Verify(alg, input, signature);
    if (ok && (alg == "none" || alg == "HS256")) fuzz::Broken("only a key's own algorithm verifies");
  }
  return 0;
}
