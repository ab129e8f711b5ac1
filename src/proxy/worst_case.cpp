#include "proxy/worst_case.hpp"

#include <algorithm>

namespace ap::proxy {
namespace {

// 6 kbit/s: the lowest bitrate speech is usually sent at, so the longest an upload can last.
constexpr uint64_t kLeastAudioBytesPerSecond = 750;

}  // namespace

WorstCase WorstCaseOf(const RequestedUse& asked, size_t body_bytes) {
  WorstCase worst;
  worst.use.images = asked.images;
  worst.use.image_kind = asked.image_kind;
  worst.use.partial_images = asked.partial_images;
  worst.use.characters = asked.characters;
  worst.use.tool_uses = asked.tools;
  if (asked.input_in_tokens) worst.use.input_tokens = static_cast<int64_t>(body_bytes) + asked.hidden_input_tokens;
  worst.writes_text = asked.writes_text;
  worst.answers = asked.answers;
  worst.unbounded_input = asked.unbounded_input;
  worst.input_beyond_bytes = asked.input_beyond_bytes;
  worst.tool_turns = asked.tool_turns;
  worst.output_set_by_app = asked.output_tokens.has_value();
  worst.use.output_tokens = asked.output_tokens.value_or(0) * asked.answers;
  worst.inference_geo = asked.inference_geo;
  worst.writes_cache = asked.writes_cache;
  worst.reasons_unseen = asked.reasons_unseen;
  worst.tool_models = asked.tool_models;
  worst.tool_makes_images = asked.tool_makes_images;
  worst.tool_runs_code = asked.tool_runs_code;
  worst.stored_setup = asked.stored_setup;
  worst.tool_model_unnamed = asked.tool_model_unnamed;
  worst.answers_images = asked.answers_images;
  worst.answers_audio = asked.answers_audio;
  if (asked.output_echoes_body) worst.predicted_output = static_cast<int64_t>(body_bytes) * asked.answers;
  return worst;
}

WorstCase WorstCaseOfUpload(uint64_t bytes, std::optional<uint64_t> bytes_per_second) {
  WorstCase worst;
  // A header can only make it denser (wav_header.hpp).
  uint64_t rate = std::min(bytes_per_second.value_or(kLeastAudioBytesPerSecond), kLeastAudioBytesPerSecond);
  rate = std::max<uint64_t>(rate, 1);
  worst.use.audio_seconds = static_cast<double>(bytes / rate + (bytes % rate != 0));
  worst.audio_upload = true;
  return worst;
}

}  // namespace ap::proxy
