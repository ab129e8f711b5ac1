#pragma once
// Whether a state-changing request came from a page of this broker. Browsers say where a request
// comes from in `Origin` (on every POST, and `null` from sandboxed frames, data: URLs and some
// redirects) and, in current ones, `Sec-Fetch-Site`. A forged cross-site form can carry a stolen
// or fixed CSRF token; it cannot make the browser lie in these headers. Clients that are not
// browsers send neither, and are left to their credential and the CSRF token.

#include <optional>
#include <string>

#include "http/message.hpp"

namespace ap::http {

// Why `request` must be refused as a cross-origin browser request, or nothing when it is a safe
// method (GET, HEAD, OPTIONS), came from this origin (`https` and the Host header say which), or
// carries neither header. A present `Sec-Fetch-Site` must be `same-origin` or `none` (typed by the
// person); a present `Origin` must be this origin exactly (`null` never is).
std::optional<std::string> CrossOriginReason(const Request& request, bool https);

}  // namespace ap::http
