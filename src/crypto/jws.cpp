#include "crypto/jws.hpp"

#include <boost/json/parse.hpp>

#include "core/base64url.hpp"
#include "crypto/hash.hpp"

namespace ap::crypto {

Result<CompactJws> ParseCompactJws(std::string_view token) {
  size_t first = token.find('.');
  size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return MakeError(Errc::kUnauthorized, "token is not a compact JWS");
  auto header_bytes = Base64UrlDecode(token.substr(0, first));
  auto payload = Base64UrlDecode(token.substr(first + 1, second - first - 1));
  auto signature = Base64UrlDecode(token.substr(second + 1));
  if (!header_bytes || !payload || !signature) return MakeError(Errc::kUnauthorized, "token is not base64url encoded");
  boost::system::error_code ec;
  boost::json::value header = boost::json::parse(*header_bytes, ec);
  if (ec || !header.is_object()) return MakeError(Errc::kUnauthorized, "token header is not a JSON object");
  return CompactJws{std::move(header.as_object()), std::move(*payload), token.substr(0, second), std::move(*signature)};
}

std::string SignCompactJws(std::string_view header_json, std::string_view payload, const Ed25519Key& key) {
  std::string out = Base64UrlEncode(header_json);
  out += '.';
  out += Base64UrlEncode(payload);
  std::string signature = key.Sign(out);
  out += '.';
  out += Base64UrlEncode(signature);
  return out;
}

boost::json::object PublicJwk(const Ed25519Key& key) {
  return {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", Base64UrlEncode(key.PublicRaw())}};
}

std::string JwkThumbprint(const Ed25519Key& key) {
  std::string canonical = R"({"crv":"Ed25519","kty":"OKP","x":")" + Base64UrlEncode(key.PublicRaw()) + "\"}";
  return Base64UrlEncode(Sha256(canonical));
}

}  // namespace ap::crypto
