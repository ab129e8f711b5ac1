#pragma once
// The most a call may use, reserved before it goes upstream (metered_call.hpp says how it is
// priced): the request's size in bytes as its input tokens (a token is at least a byte), the
// app's output limit, images, characters of speech, and for an upload its length as seconds of
// audio (the upload's size at 6 kbit/s, the lowest usual bitrate).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "metering/cost.hpp"
#include "proxy/request_limits.hpp"

namespace ap::proxy {

struct WorstCase {
  metering::Consumption use;
  bool writes_text = false;                    // a chat call: its output is in tokens
  bool output_set_by_app = false;              // the request names its output limit (max_tokens or the like)
  int64_t answers = 1;                         // each of n answers may write up to the output limit
  std::optional<std::string> unbounded_input;  // see RequestedUse
};

// From what a JSON request asks of the provider and the size of the body that goes upstream.
WorstCase WorstCaseOf(const RequestedUse& asked, size_t body_bytes);
// From an upload of `bytes` (transcription).
WorstCase WorstCaseOfUpload(size_t bytes);

}  // namespace ap::proxy
