#pragma once
// The JOSE framing around Ed25519: compact JWS (RFC 7515), OKP JWKs (RFC 8037) and JWK
// thumbprints (RFC 7638). Policy (which alg, typ and claims are acceptable) lives with the caller.

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "crypto/ed25519.hpp"

namespace ap::crypto {

struct CompactJws {
  boost::json::object header;
  std::string payload;             // decoded payload bytes
  std::string_view signing_input;  // "<header>.<payload>" as it appeared in the token
  std::string signature;           // decoded signature bytes
};

// Splits and decodes a compact JWS. Refuses anything but three strict base64url parts and a
// JSON-object header. The returned signing_input views `token`, which must outlive it.
Result<CompactJws> ParseCompactJws(std::string_view token);

// `header_json` is used byte for byte, so callers control the exact serialization.
std::string SignCompactJws(std::string_view header_json, std::string_view payload, const Ed25519Key& key);

boost::json::object PublicJwk(const Ed25519Key& key);
// base64url(SHA-256) of the JWK's required members in lexical order (RFC 7638 §3).
std::string JwkThumbprint(const Ed25519Key& key);

}  // namespace ap::crypto
