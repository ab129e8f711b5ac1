#pragma once
// How a command ends when it cannot do its work: a line on stderr ("aipassport: ..."; JSON under
// the broker's JSON logs) and the exit code the README promises: 2 for bad usage or input, 1 for a
// failure while running (a store error, an unknown user, a broken audit trail).

#include <string>

#include "core/error.hpp"

namespace ap::app {

inline constexpr int kFailed = 1;
inline constexpr int kBadUsage = 2;

// `message`, as a failure while running: kFailed.
int Fail(const std::string& message);
// `message`, as a refusal of the command's input: kBadUsage.
int Misused(const std::string& message);
// `error`'s message: kBadUsage for input the command refused (kValidation, kBadRequest), else kFailed.
int Fail(const Error& error);

}  // namespace ap::app
