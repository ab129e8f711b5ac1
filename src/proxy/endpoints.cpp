#include "proxy/endpoints.hpp"

#include <algorithm>
#include <cctype>

#include "http/cookies.hpp"
#include "http/url.hpp"

namespace ap::proxy {
namespace {

using V = http::Verb;
constexpr auto kO = Provider::kOpenAI;
constexpr auto kA = Provider::kAnthropic;
constexpr auto kG = Provider::kGoogle;

constexpr NativeEndpoint kEndpoints[] = {
    {kO, V::post, "/v1/chat/completions", "chat", ModelIn::kJsonBody, "", Streams::kWhenAsked, true},
    {kO, V::post, "/v1/responses", "chat", ModelIn::kJsonBody, "", Streams::kWhenAsked, true},
    {kO, V::post, "/v1/embeddings", "embeddings", ModelIn::kJsonBody, "", Streams::kNever, true},
    {kO, V::post, "/v1/images/generations", "images", ModelIn::kJsonBody, "dall-e-2", Streams::kWhenAsked, true},
    {kO, V::post, "/v1/audio/transcriptions", "audio", ModelIn::kMultipart, "", Streams::kWhenAsked, true},
    {kO, V::post, "/v1/audio/translations", "audio", ModelIn::kMultipart, "", Streams::kNever, true},
    {kO, V::post, "/v1/audio/speech", "audio", ModelIn::kJsonBody, "", Streams::kAlways, true},
    {kO, V::post, "/v1/moderations", "moderation", ModelIn::kJsonBody, "omni-moderation-latest", Streams::kNever, true},
    {kO, V::get, "/v1/models", "", ModelIn::kNone, "", Streams::kNever, false},
    {kA, V::post, "/v1/messages", "chat", ModelIn::kJsonBody, "", Streams::kWhenAsked, true},
    {kA, V::post, "/v1/messages/count_tokens", "chat", ModelIn::kJsonBody, "", Streams::kNever, false},
    {kA, V::get, "/v1/models", "", ModelIn::kNone, "", Streams::kNever, false},
    {kG, V::post, ":generateContent", "chat", ModelIn::kPath, "", Streams::kNever, true},
    {kG, V::post, ":streamGenerateContent", "chat", ModelIn::kPath, "", Streams::kAlways, true},
    {kG, V::post, ":embedContent", "embeddings", ModelIn::kPath, "", Streams::kNever, true},
    {kG, V::post, ":batchEmbedContents", "embeddings", ModelIn::kPath, "", Streams::kNever, true},
    {kG, V::post, ":countTokens", "chat", ModelIn::kPath, "", Streams::kNever, false},
    {kG, V::get, "/models", "", ModelIn::kNone, "", Streams::kNever, false},
};

}  // namespace

std::span<const NativeEndpoint> NativeEndpoints() { return kEndpoints; }

const NativeEndpoint& OpenAIChatCompletions() {
  static_assert(kEndpoints[0].wire == kO && kEndpoints[0].path == "/v1/chat/completions");
  return kEndpoints[0];
}

const NativeEndpoint& GeminiGenerateContent() {
  constexpr size_t at = [] {
    for (size_t i = 0; i < std::size(kEndpoints); ++i)
      if (kEndpoints[i].wire == kG && kEndpoints[i].path == ":generateContent") return i;
    return std::size(kEndpoints);
  }();
  static_assert(at < std::size(kEndpoints));
  return kEndpoints[at];
}

const NativeEndpoint* GeminiAction(std::string_view action) {
  for (const auto& e : kEndpoints)
    if (e.wire == kG && e.model_in == ModelIn::kPath && e.path == action) return &e;
  return nullptr;
}

namespace {

// What the providers' own SDKs put in a query: Gemini's stream format and list paging, the
// Anthropic SDK's beta flag and list paging, the credential (dropped).
constexpr std::string_view kForwardedParams[] = {"alt",   "pageSize", "pageToken", "beta",
                                                 "limit", "after_id", "before_id"};

}  // namespace

Result<std::string> ForwardedQuery(std::string_view target) {
  if (target.find('?') == std::string_view::npos) return std::string();  // most calls: nothing to read
  auto form = http::QueryForm(target);
  if (!form) return MakeError(Errc::kBadRequest, "The query string is malformed");
  std::string out;
  for (auto it = form->begin(); it != form->end(); it = form->upper_bound(it->first)) {
    const std::string& name = it->first;
    if (form->count(name) > 1) return MakeError(Errc::kBadRequest, "The query parameter '" + name + "' appears twice");
    if (name == "key") continue;
    if (std::find(std::begin(kForwardedParams), std::end(kForwardedParams), name) == std::end(kForwardedParams))
      return MakeError(Errc::kBadRequest, "The query parameter '" + name + "' is not accepted");
    if (name == "alt" && it->second != "sse" && it->second != "json")
      return MakeError(Errc::kBadRequest, "Only alt=sse or alt=json is accepted");
    out += out.empty() ? "?" : "&";
    out += http::PercentEncode(name) + "=" + http::PercentEncode(it->second);
  }
  return out;
}

}  // namespace ap::proxy
