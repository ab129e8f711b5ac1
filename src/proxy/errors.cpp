#include "proxy/errors.hpp"

#include <boost/json.hpp>

#include "http/response.hpp"

namespace ap::proxy {
namespace json = boost::json;

namespace {

struct Names {
  std::string_view openai;     // error.type
  std::string_view anthropic;  // error.type
  std::string_view google;     // error.status
};

Names NamesFor(http::StatusCode status) {
  switch (status) {
    case http::StatusCode::unauthorized:
      return {"invalid_request_error", "authentication_error", "UNAUTHENTICATED"};
    case http::StatusCode::forbidden:
      return {"permission_denied", "permission_error", "PERMISSION_DENIED"};
    case http::StatusCode::not_found:
      return {"invalid_request_error", "not_found_error", "NOT_FOUND"};
    case http::StatusCode::payload_too_large:
      return {"invalid_request_error", "request_too_large", "INVALID_ARGUMENT"};
    case http::StatusCode::payment_required:
      return {"insufficient_quota", "billing_error", "RESOURCE_EXHAUSTED"};
    case http::StatusCode::too_many_requests:
      return {"rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED"};
    case http::StatusCode::gateway_timeout:
      return {"server_error", "timeout_error", "DEADLINE_EXCEEDED"};
    case http::StatusCode::service_unavailable:
      return {"server_error", "api_error", "UNAVAILABLE"};
    default:
      if (static_cast<unsigned>(status) >= 500) return {"server_error", "api_error", "INTERNAL"};
      return {"invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"};
  }
}

json::object Body(Provider wire, http::StatusCode status, const Error& error) {
  Names names = NamesFor(status);
  std::string message = http::ShownMessage(error);
  switch (wire) {
    case Provider::kOpenAI:
      return {{"error",
               {{"message", message}, {"type", names.openai}, {"param", nullptr}, {"code", ErrcName(error.code)}}}};
    case Provider::kAnthropic:
      return {{"type", "error"}, {"error", {{"type", names.anthropic}, {"message", message}}}};
    case Provider::kGoogle:
      return {{"error", {{"code", static_cast<unsigned>(status)}, {"message", message}, {"status", names.google}}}};
  }
  return {};
}

}  // namespace

http::Response ProviderErrorResponse(Provider wire, const Error& error, unsigned version) {
  http::StatusCode status = http::StatusFor(error.code);
  http::Response res = http::JsonResponse(status, Body(wire, status, error), version);
  http::SetRetryAfter(res, error);
  return res;
}

std::string ProviderErrorEvent(Provider wire, const Error& error) {
  std::string data = json::serialize(Body(wire, http::StatusFor(error.code), error));
  if (wire == Provider::kAnthropic) return "event: error\ndata: " + data + "\n\n";
  return "data: " + data + "\n\n";
}

}  // namespace ap::proxy
