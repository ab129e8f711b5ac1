#pragma once
// The members OpenAI's API defines at the top of each JSON request body, and the fields of each
// upload's form: all a declared OpenAI-compatible upstream (Ollama, vLLM, OpenRouter...) is sent.
// Such servers read more than OpenAI does, in ways the grant cannot check: a gateway's fallback
// `models` or paid `plugins`, and names in another case (Go's encoding/json, which Ollama decodes
// with, matches `MODEL` and `Max_Tokens` to `model` and `max_tokens`, the last one winning). Any
// other member, or one of these spelled otherwise (an escape included), is refused, unless the
// operator lists it for that upstream (`extra_members`).

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "proxy/endpoints.hpp"

namespace ap::proxy {

// Refused (kBadRequest, naming the member) unless every top-level member of `body`, valid JSON
// text holding an object, is written exactly as one OpenAI defines for `ep` or one of `extra`.
Status CheckOpenAIVocabulary(const NativeEndpoint& ep, std::string_view body, std::span<const std::string> extra);

// The form fields OpenAI defines for an upload to `ep` (transcriptions, translations), and `extra`:
// all the parts of an upload a declared upstream is sent (MultipartField::OnlyNames).
std::vector<std::string> OpenAIFormFields(const NativeEndpoint& ep, std::span<const std::string> extra);

}  // namespace ap::proxy
