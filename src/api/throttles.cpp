#include "api/throttles.hpp"

namespace ap::api {
namespace {

std::optional<Error> Throttle(domain::KeyedThrottle& throttle, std::string_view key, std::string_view what) {
  domain::Admission admission = throttle.Take(key, MonotonicSeconds());
  if (admission.Allowed()) return std::nullopt;
  Error e = admission.verdict == domain::Admission::Verdict::kFull
                ? MakeError(Errc::kUnavailable, "The broker is busy with too many callers; try again later")
                : MakeError(Errc::kRateLimited, "Too many " + std::string(what) + "; try again in " +
                                                    std::to_string(admission.retry_after) + " seconds");
  e.retry_after_seconds = static_cast<int>(admission.retry_after);
  return e;
}

}  // namespace

std::optional<Error> ThrottleAddress(domain::KeyedThrottle& throttle, std::string_view peer, std::string_view what) {
  return Throttle(throttle, domain::AddressKey(peer), std::string(what) + " from this address");
}

std::optional<Error> SignInRefusal(domain::SignInGate::Verdict verdict, std::string_view what) {
  if (verdict == domain::SignInGate::Verdict::kPassed) return std::nullopt;
  Error e = verdict == domain::SignInGate::Verdict::kAddressBusy
                ? MakeError(Errc::kRateLimited, "Another " + std::string(what) +
                                                    " from your address is being checked; try again in a moment.")
                : MakeError(Errc::kUnavailable,
                            "Too many " + std::string(what) + "s are being checked at once; try again in a moment.");
  e.retry_after_seconds = 1;
  return e;
}

std::optional<Error> ThrottleClient(domain::KeyedThrottle& throttle, std::string_view client_id, std::string_view what) {
  return Throttle(throttle, client_id, std::string(what) + " for this app");
}

std::optional<Error> ThrottleGrant(domain::KeyedThrottle& throttle, std::string_view grant_id, std::string_view what) {
  return Throttle(throttle, grant_id, std::string(what) + " for this grant");
}

}  // namespace ap::api
