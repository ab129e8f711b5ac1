#include "http/response.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <optional>

#include "http/fields.hpp"
#include "http/json_text.hpp"

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
    case Errc::kClientGone:
      return static_cast<StatusCode>(499);
    case Errc::kUnavailable:
    case Errc::kStorageUnavailable:
    case Errc::kKeyMissing:
      return StatusCode::service_unavailable;
    case Errc::kInternal:
      return StatusCode::internal_server_error;
  }
  return StatusCode::internal_server_error;
}

Response JsonResponse(StatusCode status, const boost::json::value& body, unsigned version) {
  return JsonTextResponse(status, JsonText(body), version);
}

Response JsonTextResponse(StatusCode status, std::string body, unsigned version) {
  Response res(status, version);
  res.set(bhttp::field::content_type, "application/json; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

void SetRetryAfter(Response& res, const Error& error) {
  if (error.retry_after_seconds > 0) res.set(bhttp::field::retry_after, std::to_string(error.retry_after_seconds));
}

std::string ShownMessage(const Error& error) {
  if (!error.internal) return error.message;
  // Once a second at most: in an outage every answer says so.
  static std::atomic<int64_t> logged_at{-1};
  int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (logged_at.exchange(second, std::memory_order_relaxed) != second)
    spdlog::error("answered without its detail: {}", error.message);
  if (error.code == Errc::kStorageUnavailable) return "The broker's storage refuses writes; its log says why";
  return "The broker's database did not answer; try again later";
}

Response ErrorResponse(const Error& error, unsigned version) {
  boost::json::object body{{"error", ShownMessage(error)}, {"type", ErrcName(error.code)}};
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

namespace {

// The token after `scheme` (compared without case) in an Authorization value, or nothing.
std::optional<std::string_view> AfterScheme(std::string_view value, std::string_view scheme) {
  if (value.size() <= scheme.size() || !boost::beast::iequals(value.substr(0, scheme.size()), scheme))
    return std::nullopt;
  std::string_view token = value.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.find(' ') != std::string_view::npos) return std::nullopt;
  return token;
}

}  // namespace

Result<std::string_view> BearerToken(const Request& request) {
  auto authorization = FirstValue(request, bhttp::field::authorization);
  if (!authorization) return MakeError(Errc::kUnauthorized, "Missing Authorization header");
  auto token = AfterScheme(*authorization, "Bearer ");
  if (!token) return MakeError(Errc::kUnauthorized, "Malformed Authorization header: expected 'Bearer <token>'");
  return *token;
}

std::vector<std::string_view> DpopProofs(const Request& request) {
  static const FieldName kDpop("dpop");
  std::vector<std::string_view> proofs;
  for (const auto& field : request)
    if (kDpop.Names(field)) proofs.push_back(field.value());
  return proofs;
}

Result<PresentedToken> AccessToken(const Request& request) {
  auto authorization = FirstValue(request, bhttp::field::authorization);
  if (!authorization) return MakeError(Errc::kUnauthorized, "Missing Authorization header");
  if (auto dpop = AfterScheme(*authorization, "DPoP ")) return PresentedToken{*dpop, true};
  auto bearer = AfterScheme(*authorization, "Bearer ");
  if (!bearer)
    return MakeError(Errc::kUnauthorized,
                     "Malformed Authorization header: expected 'Bearer <token>' or 'DPoP <token>'");
  return PresentedToken{*bearer, false};
}

}  // namespace ap::http
