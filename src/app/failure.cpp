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
  std::string said = error.message;
  for (const auto& f : error.field_errors) said += "\n  " + f.field + ": " + f.message;  // what was wrong, and where
  telemetry::Complain(said);
  return error.code == Errc::kValidation || error.code == Errc::kBadRequest ? kBadUsage : kFailed;
}

}  // namespace ap::app
