#include "core/error.hpp"

#include <stdexcept>

namespace ap {

std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kValidation:
      return "validation_failed";
    case Errc::kBadRequest:
      return "invalid_request";
    case Errc::kUnauthorized:
      return "unauthorized";
    case Errc::kForbidden:
      return "forbidden";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kMethodNotAllowed:
      return "method_not_allowed";
    case Errc::kPayloadTooLarge:
      return "payload_too_large";
    case Errc::kHeadersTooLarge:
      return "headers_too_large";
    case Errc::kLimitReached:
      return "request_limit_reached";
    case Errc::kBudgetExceeded:
      return "budget_exceeded";
    case Errc::kRateLimited:
      return "rate_limit_exceeded";
    case Errc::kUpstream:
      return "upstream_error";
    case Errc::kUpstreamTimeout:
      return "upstream_timeout";
    case Errc::kClientGone:
      return "client_gone";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kStorageUnavailable:
      return "storage_unavailable";
    case Errc::kKeyMissing:
      return "key_missing";
    case Errc::kInternal:
      return "internal_error";
  }
  return "internal_error";
}

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::logic_error("Result holds an error: " + std::string(ErrcName(e.code)) + ": " + e.message);
}

}  // namespace ap
