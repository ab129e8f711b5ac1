#include "app/failure.hpp"

#include "telemetry/logging.hpp"

namespace ap::app {

int Fail(const std::string& message) {
  telemetry::Complain(message);
  return kFailed;
}

int Misused(const std::string& message) {
  telemetry::Complain(message);
  return kBadUsage;
}

int Fail(const Error& error) {
  telemetry::Complain(error.message);
  return error.code == Errc::kValidation || error.code == Errc::kBadRequest ? kBadUsage : kFailed;
}

}  // namespace ap::app
