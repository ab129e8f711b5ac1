#pragma once
// The most a call may use, reserved before it goes upstream (metered_call.hpp says how it is
// priced): the request's size in bytes as its input tokens (a token is at least a byte of text;
// where the request holds more than text, metered_call bounds it by the context window), the
// app's output limit, images, characters of speech, and for an upload its length as seconds of
// audio: the upload's size at 6 kbit/s, the lowest usual bitrate, or at its audio's own bytes a
// second where a WAV header says it is denser (wav_header.hpp).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "metering/cost.hpp"
#include "proxy/request_limits.hpp"

namespace ap::proxy {

// The least output tokens a stream without a limit must be able to pay for to start, per answer
// (OpenAI refuses a max_output_tokens under 16).
inline constexpr int64_t kLeastStreamOutput = 16;
// A stream's events that carry no output token (its role, its finish) and one for rounding: the
// limit a stream started with less than its worst case is sent leaves room for them, so that the
// relay's backstop (one token an event, for an upstream that ignores the limit) never ends a
// stream before the provider does.
inline constexpr int64_t kStreamEventsBeyondTokens = 3;

struct WorstCase {
  metering::Consumption use;
  bool writes_text = false;                    // a chat call: its output is in tokens
  bool output_set_by_app = false;              // the request names its output limit (max_tokens or the like)
  int64_t answers = 1;                         // each of n answers may write up to the output limit
  std::optional<std::string> unbounded_input;  // see RequestedUse
  // More input tokens than bytes (see RequestedUse): bounded by the model's context window, once
  // per turn. `wide_context`: the call opens the model's longer window (Anthropic's context-1m).
  std::optional<std::string> input_beyond_bytes;
  int64_t tool_turns = 0;
  bool wide_context = false;
  int64_t predicted_output = 0;  // output beyond the limit: a prediction's unused tokens (RequestedUse)
  RequestedUse::Geo inference_geo = RequestedUse::Geo::kUnnamed;
  bool writes_cache = false;    // see RequestedUse
  bool reasons_unseen = false;  // see RequestedUse
  // An upload of audio: reserved by its length (use.audio_seconds), or by the model's window where
  // the model bills tokens rather than minutes (metered_call.cpp).
  bool audio_upload = false;
  std::vector<std::string> tool_models;  // see RequestedUse
  bool tool_makes_images = false;        // see RequestedUse
  std::string tool_runs_code;            // see RequestedUse
  std::string stored_setup;              // see RequestedUse
  bool tool_model_unnamed = false;       // see RequestedUse
  bool answers_images = false;           // see RequestedUse
  bool answers_audio = false;            // see RequestedUse
};

// From what a JSON request asks of the provider and the size of the body that goes upstream.
WorstCase WorstCaseOf(const RequestedUse& asked, size_t body_bytes);
// From an upload of `bytes` (transcription), its audio taking `bytes_per_second` as its header says,
// when it says. Whole seconds, rounded up, as providers bill them.
WorstCase WorstCaseOfUpload(uint64_t bytes, std::optional<uint64_t> bytes_per_second);

}  // namespace ap::proxy
