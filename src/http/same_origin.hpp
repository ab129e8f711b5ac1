#pragma once
// Whether a state-changing request came from a page of this broker. Browsers say where a request
// comes from in `Origin` (on every POST, and `null` from sandboxed frames, data: URLs and some
// redirects) and, in current ones, `Sec-Fetch-Site`. A forged cross-site form can carry a stolen
// or fixed CSRF token; it cannot make the browser lie in these headers. Clients that are not
// browsers send neither, and are left to their credential and the CSRF token.

#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace ap::http {

// Why `request` must be refused as a cross-origin browser request, or nothing when it is a safe
// method (GET, HEAD, OPTIONS), came from this origin, or carries neither header. A present
// `Sec-Fetch-Site` must be `same-origin` or `none` (typed by the person); a present `Origin` must be
// this origin exactly (`null` never is): the broker's public URL's (`public_url`: behind a TLS proxy,
// the browser's origin is that, whatever Host the proxy passes on), or the one the Host header
// makes with https when the broker serves TLS itself (`tls`), else http (the broker reached
// directly, an SSH tunnel to its loopback port say).
std::optional<std::string> CrossOriginReason(const Request& request, bool tls, std::string_view public_url);

// The origin of an absolute URL as a browser writes it: lower case, without the scheme's own port
// ("https://broker.example" for "HTTPS://Broker.example:443/base"); empty when it has no scheme.
std::string OriginOf(std::string_view url);

}  // namespace ap::http
