#include "store/store.hpp"

namespace ap::store {

std::string_view GrantStatusName(GrantStatus status) {
  switch (status) {
    case GrantStatus::kPending:
      return "pending";
    case GrantStatus::kApproved:
      return "approved";
    case GrantStatus::kDenied:
      return "denied";
    case GrantStatus::kRevoked:
      return "revoked";
    case GrantStatus::kExpired:
      return "expired";
    case GrantStatus::kExhausted:
      return "exhausted";
  }
  return "pending";
}

std::optional<GrantStatus> ParseGrantStatus(std::string_view name) {
  for (auto s : {GrantStatus::kPending, GrantStatus::kApproved, GrantStatus::kDenied, GrantStatus::kRevoked,
                 GrantStatus::kExpired})
    if (GrantStatusName(s) == name) return s;
  return std::nullopt;
}

}  // namespace ap::store
