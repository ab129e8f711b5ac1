#include "proxy/openai_vocabulary.hpp"

#include <algorithm>

#include "proxy/json_scan.hpp"
#include "proxy/request_limits.hpp"

namespace ap::proxy {
namespace {

// From OpenAI's API reference (create chat completion, response, embedding, image, speech,
// moderation).
constexpr std::string_view kChat[] = {
    "audio",           "frequency_penalty", "function_call",      "functions",          "logit_bias",
    "logprobs",        "max_completion_tokens", "max_tokens",     "messages",           "metadata",
    "modalities",      "model",             "n",                  "parallel_tool_calls", "prediction",
    "presence_penalty", "prompt_cache_key", "prompt_cache_retention", "reasoning_effort", "response_format",
    "safety_identifier", "seed",            "service_tier",       "stop",               "store",
    "stream",          "stream_options",    "temperature",        "tool_choice",        "tools",
    "top_logprobs",    "top_p",             "user",               "verbosity",          "web_search_options"};
constexpr std::string_view kResponses[] = {
    "background",   "context_management", "conversation",     "include",          "input",
    "instructions", "max_output_tokens",  "max_tool_calls",   "metadata",         "model",
    "parallel_tool_calls", "previous_response_id", "prompt",  "prompt_cache_key", "prompt_cache_retention",
    "reasoning",    "safety_identifier",  "service_tier",     "store",            "stream",
    "stream_options", "temperature",      "text",             "tool_choice",      "tools",
    "top_logprobs", "top_p",              "truncation",       "user"};
constexpr std::string_view kEmbeddings[] = {"dimensions", "encoding_format", "input", "model", "user"};
constexpr std::string_view kImages[] = {"background", "model",   "moderation", "n",     "output_compression",
                                        "output_format", "partial_images", "prompt", "quality", "response_format",
                                        "size",       "stream",  "style",      "user"};
constexpr std::string_view kSpeech[] = {"input", "instructions", "model", "response_format", "speed", "stream_format",
                                        "voice"};
constexpr std::string_view kModerations[] = {"input", "model"};
constexpr std::string_view kTranscriptions[] = {
    "file",     "model",  "chunking_strategy", "include[]", "known_speaker_names[]", "known_speaker_references[]",
    "language", "prompt", "response_format",   "stream",    "temperature",           "timestamp_granularities[]"};
constexpr std::string_view kTranslations[] = {"file", "model", "prompt", "response_format", "temperature"};

std::span<const std::string_view> VocabularyOf(const NativeEndpoint& ep) {
  if (ep.path == "/v1/chat/completions") return kChat;
  if (ep.path == "/v1/responses") return kResponses;
  if (ep.path == "/v1/embeddings") return kEmbeddings;
  if (ep.path == "/v1/images/generations") return kImages;
  if (ep.path == "/v1/audio/speech") return kSpeech;
  if (ep.path == "/v1/moderations") return kModerations;
  if (ep.path == "/v1/audio/transcriptions") return kTranscriptions;
  if (ep.path == "/v1/audio/translations") return kTranslations;
  return {};
}

}  // namespace

Status CheckOpenAIVocabulary(const NativeEndpoint& ep, std::string_view body, std::span<const std::string> extra) {
  std::span<const std::string_view> known = VocabularyOf(ep);
  for (const JsonMember& member : ObjectMembers(body, FirstValue(body))) {
    std::string_view name = member.raw_name;
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    if (std::find(extra.begin(), extra.end(), name) != extra.end()) continue;
    return MakeError(Errc::kBadRequest,
                     QuotedName(name) + " is not a member of OpenAI's API as written, and this provider is sent only "
                                        "those (the operator may allow more with extra_members)");
  }
  return {};
}

std::vector<std::string> OpenAIFormFields(const NativeEndpoint& ep, std::span<const std::string> extra) {
  std::span<const std::string_view> known = VocabularyOf(ep);
  std::vector<std::string> names(known.begin(), known.end());
  names.insert(names.end(), extra.begin(), extra.end());
  return names;
}

}  // namespace ap::proxy
