#pragma once
// Building responses, and the one place where domain errors become HTTP statuses and JSON bodies.
// Error bodies keep the reference's shape, `{"error": "<sentence>"}`, plus a machine-readable
// `type`; validation failures add the reference's `details` with `fieldErrors`.

#include <boost/json/fwd.hpp>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "http/message.hpp"

namespace ap::http {

StatusCode StatusFor(Errc code);
Response JsonResponse(StatusCode status, const boost::json::value& body, unsigned version = 11);
// The same, for JSON already written as text (a list written item by item, see json_text.hpp).
Response JsonTextResponse(StatusCode status, std::string body, unsigned version = 11);
// What an answer may say of an error: its message, or for one that names the broker's insides
// (Error::internal) a sentence of its kind, the message then going to the log.
std::string ShownMessage(const Error& error);
Response ErrorResponse(const Error& error, unsigned version = 11);
// Sets Retry-After when the error says how long to wait.
void SetRetryAfter(Response& res, const Error& error);
Response ErrorResponse(Errc code, std::string message, unsigned version = 11);

// The bearer token of an `Authorization: Bearer <token>` header, or an explanation of what is
// wrong with the header.
Result<std::string_view> BearerToken(const Request& request);
// An access token as an app presents it: `Bearer <token>`, or `DPoP <token>` with a proof (RFC 9449 §7.1).
struct PresentedToken {
  std::string_view token;
  bool dpop = false;
};
Result<PresentedToken> AccessToken(const Request& request);
// Every DPoP header of the request (a valid request has exactly one).
std::vector<std::string_view> DpopProofs(const Request& request);

}  // namespace ap::http
