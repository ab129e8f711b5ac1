#include "crypto/public_jwk.hpp"

#include "core/base64url.hpp"
#include "crypto/hash.hpp"

namespace ap::crypto {
namespace {

Error Bad(std::string why) { return MakeError(Errc::kBadRequest, std::move(why)); }

// The member `name` as a string, or nothing.
std::optional<std::string> Text(const boost::json::object& jwk, std::string_view name) {
  const auto* v = jwk.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

// A 32-byte coordinate or key, base64url without padding.
std::optional<std::string> Bytes32(const boost::json::object& jwk, std::string_view name) {
  auto text = Text(jwk, name);
  if (!text) return std::nullopt;
  auto bytes = Base64UrlDecode(*text);
  if (!bytes || bytes->size() != 32) return std::nullopt;
  return bytes;
}

}  // namespace

Result<JwkPublicKey> JwkPublicKey::Parse(const boost::json::object& jwk) {
  if (jwk.contains("d")) return Bad("the jwk is a private key");
  auto kty = Text(jwk, "kty");
  auto crv = Text(jwk, "crv");
  auto x = Bytes32(jwk, "x");
  if (kty == "OKP" && crv == "Ed25519" && x) {
    auto key = Ed25519Key::FromPublicRaw(*x);
    if (!key) return key.error();
    std::string canonical = R"({"crv":"Ed25519","kty":"OKP","x":")" + Base64UrlEncode(*x) + "\"}";
    return JwkPublicKey(std::move(*key), Base64UrlEncode(Sha256(canonical)));
  }
  auto y = Bytes32(jwk, "y");
  if (kty == "EC" && crv == "P-256" && x && y) {
    auto key = P256PublicKey::FromCoordinates(*x, *y);
    if (!key) return key.error();
    std::string canonical =
        R"({"crv":"P-256","kty":"EC","x":")" + Base64UrlEncode(*x) + R"(","y":")" + Base64UrlEncode(*y) + "\"}";
    return JwkPublicKey(std::move(*key), Base64UrlEncode(Sha256(canonical)));
  }
  return Bad("the jwk must be an Ed25519 (OKP) or P-256 (EC) public key");
}

bool JwkPublicKey::Verify(std::string_view alg, std::string_view signing_input, std::string_view signature) const {
  if (const auto* ed = std::get_if<Ed25519Key>(&key_))
    return (alg == "EdDSA" || alg == "Ed25519") && ed->Verify(signing_input, signature);
  return alg == "ES256" && std::get<P256PublicKey>(key_).Verify(signing_input, signature);
}

}  // namespace ap::crypto
