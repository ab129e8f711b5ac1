#pragma once
// Unpadded base64url (RFC 4648 §5), as JOSE uses it; and padded base64 (§4), as JSON APIs use it.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ap {

std::string Base64UrlEncode(std::string_view bytes);
// The same written at `out`, which has room for Base64UrlEncodedSize(bytes.size()) characters.
void Base64UrlEncodeTo(std::string_view bytes, char* out);
size_t Base64UrlEncodedSize(size_t bytes);
// Rejects padding, characters outside the URL-safe alphabet and non-canonical trailing bits.
std::optional<std::string> Base64UrlDecode(std::string_view text);
std::string Base64Encode(std::string_view bytes);

}  // namespace ap
