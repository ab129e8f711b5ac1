#pragma once
// Redirect URIs: which may be registered, and whether the one an authorization request presents is
// one of them. A code goes wherever the browser resolves the redirect URI, so each is parsed (with
// Boost.URL) and must be in the one canonical form that browsers and this code read alike.
//
// Accepted: https with a lowercase DNS name or a dotted IPv4 address, or http on the loopback
// literals 127.0.0.1 and [::1] (a native app, RFC 8252 §7.3), with a path, optionally a query.
// `localhost` is only an ordinary https host compared exactly, never a loopback redirect: RFC 8252
// §8.3 advises against it, since the name may not resolve to the loopback interface.
// Refused: userinfo (even an empty one), a fragment, an empty host or port, a port written with
// leading zeros or the scheme's default port, uppercase in the scheme or host, percent-encoding
// that normalizes differently, dot segments, a trailing dot or a number as the last label of a
// host (browsers read 127.1 as an address), IPv6 other than [::1] (no zone ids), and any byte
// outside printable ASCII (spaces, control characters, backslashes are not URI characters).

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace ap::oauth {

// Whether `uri` is an acceptable redirect URI in canonical form; kValidation with a sentence
// saying what is wrong otherwise.
Status CheckRedirectUri(std::string_view uri);

// Whether `presented` names the registered redirect URI `registered`: both acceptable, with the
// same scheme, host, path and query; the port must match too, except on a loopback redirect,
// where a native app listens on whichever port it got (RFC 8252 §7.3).
bool RedirectMatches(std::string_view registered, std::string_view presented);

// "http://127.0.0.1:53682" for an acceptable redirect URI; empty for any other text.
std::string RedirectOrigin(std::string_view uri);

}  // namespace ap::oauth
