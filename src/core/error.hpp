#pragma once
// Errors as values: every fallible call on the data path returns Result<T>.

#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ap {

enum class Errc {
  kValidation,    // a field of the input is missing or invalid (field_errors says which)
  kBadRequest,    // the input is malformed or not allowed in the current state
  kUnauthorized,  // missing, malformed, expired or revoked credential
  kForbidden,     // the credential is fine but the grant does not cover the call
  kNotFound,
  kMethodNotAllowed,
  kPayloadTooLarge,
  kHeadersTooLarge,
  kLimitReached,    // the grant's request cap is used up
  kBudgetExceeded,  // the call could cost more than the grant has left
  kRateLimited,     // too many calls or tokens this minute, or too many at once
  kUpstream,        // the provider failed or answered something unusable
  kUpstreamTimeout,
  kClientGone,   // the app went away before its answer (nginx's 499): nobody reads the refusal
  kUnavailable,  // the broker cannot serve now (shutting down, store failure)
  kStorageUnavailable,  // the database refuses writes (disk full, read-only): nothing can be recorded
  kKeyMissing,   // the grant's owner has no provider key under the grant's label
  kInternal,
};

std::string_view ErrcName(Errc code);

struct FieldError {
  std::string field;
  std::string message;
};

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  std::vector<FieldError> field_errors;
  int retry_after_seconds = 0;  // sent as Retry-After when set
  // An upstream call that failed after it was written whole (it timed out, its connection broke,
  // its answer was unreadable): the provider has it, and may go on with it (and bill it) though no
  // usable answer came.
  bool sent_unanswered = false;
  // An upstream call the provider answered with a refusal or failure of its own (a 4xx or 5xx the
  // broker does not pass on as it came): a request, at no cost, as one it passes on.
  bool provider_answered = false;
  // The message names the broker's insides (the database's own words, which on PostgreSQL name its
  // host and user; a file's path): it is for the operator's log, and an answer says less
  // (http::ShownMessage).
  bool internal = false;
};

inline Error MakeError(Errc code, std::string message) { return Error{code, std::move(message), {}}; }
// An error whose message is for the operator's log only (Error::internal).
inline Error InternalError(Errc code, std::string message) {
  Error e{code, std::move(message), {}};
  e.internal = true;
  return e;
}
// A validation error about one field.
inline Error FieldInvalid(std::string field, std::string message) {
  return Error{Errc::kValidation, "Validation failed", {{std::move(field), std::move(message)}}};
}

// Lets Result<T>::value() throw when a caller insists on a value that is not there (a bug).
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

using Status = Result<void>;

}  // namespace ap
