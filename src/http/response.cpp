#include "http/response.hpp"

#include <boost/json.hpp>

namespace ap::http {

StatusCode StatusFor(Errc code) {
  switch (code) {
    case Errc::kValidation:
    case Errc::kBadRequest:
      return StatusCode::bad_request;
    case Errc::kUnauthorized:
      return StatusCode::unauthorized;
    case Errc::kForbidden:
      return StatusCode::forbidden;
    case Errc::kNotFound:
      return StatusCode::not_found;
    case Errc::kMethodNotAllowed:
      return StatusCode::method_not_allowed;
    case Errc::kPayloadTooLarge:
      return StatusCode::payload_too_large;
    case Errc::kHeadersTooLarge:
      return StatusCode::request_header_fields_too_large;
    case Errc::kLimitReached:
    case Errc::kRateLimited:
      return StatusCode::too_many_requests;
    case Errc::kBudgetExceeded:
      return StatusCode::payment_required;
    case Errc::kUpstream:
      return StatusCode::bad_gateway;
    case Errc::kUpstreamTimeout:
      return StatusCode::gateway_timeout;
    case Errc::kUnavailable:
      return StatusCode::service_unavailable;
    case Errc::kInternal:
      return StatusCode::internal_server_error;
  }
  return StatusCode::internal_server_error;
}

Response JsonResponse(StatusCode status, const boost::json::value& body, unsigned version) {
  Response res(status, version);
  res.set(bhttp::field::content_type, "application/json; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = boost::json::serialize(body);
  res.prepare_payload();
  return res;
}

void SetRetryAfter(Response& res, const Error& error) {
  if (error.retry_after_seconds > 0) res.set(bhttp::field::retry_after, std::to_string(error.retry_after_seconds));
}

Response ErrorResponse(const Error& error, unsigned version) {
  boost::json::object body{{"error", error.message}, {"type", ErrcName(error.code)}};
  if (!error.field_errors.empty()) {
    boost::json::object fields;
    for (const auto& f : error.field_errors) {
      auto& list = fields[f.field];
      if (!list.is_array()) list = boost::json::array();
      list.as_array().emplace_back(f.message);
    }
    body["details"] = boost::json::object{{"fieldErrors", std::move(fields)}, {"formErrors", boost::json::array()}};
  }
  Response res = JsonResponse(StatusFor(error.code), body, version);
  if (error.code == Errc::kUnauthorized) res.set(bhttp::field::www_authenticate, "Bearer");
  SetRetryAfter(res, error);
  return res;
}

Response ErrorResponse(Errc code, std::string message, unsigned version) {
  return ErrorResponse(MakeError(code, std::move(message)), version);
}

Result<std::string_view> BearerToken(const Request& request) {
  auto it = request.find(bhttp::field::authorization);
  if (it == request.end()) return MakeError(Errc::kUnauthorized, "Missing Authorization header");
  std::string_view value = it->value();
  constexpr std::string_view kScheme = "Bearer ";
  if (value.size() <= kScheme.size() || !std::equal(kScheme.begin(), kScheme.end(), value.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      }))
    return MakeError(Errc::kUnauthorized, "Malformed Authorization header: expected 'Bearer <token>'");
  std::string_view token = value.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.find(' ') != std::string_view::npos)
    return MakeError(Errc::kUnauthorized, "Malformed Authorization header: expected 'Bearer <token>'");
  return token;
}

}  // namespace ap::http
