#pragma once
// A provider-native JSON call as the relay needs it, read from the app's body without building
// it: the model, whether the app asked for a stream, what the call may spend (request_limits.hpp),
// and the body to send. The body goes upstream as the app sent it, except for bytes spliced in
// where the broker adds something (a bound on paid tools; OpenAI's stream_options.include_usage);
// it is never parsed and serialized again.
// A member policy reads that appears twice in one object is refused: providers' parsers take the
// last one, and a broker that read another would meter a different call than the one made.

#include <boost/json/fwd.hpp>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "proxy/endpoints.hpp"
#include "proxy/json_scan.hpp"
#include "proxy/request_limits.hpp"

namespace ap::proxy {

struct JsonCall {
  std::string model;
  bool stream = false;
  bool strip_usage_chunk = false;  // the broker asked OpenAI for the usage chunk; the app did not
  std::string body;                // what goes upstream
  RequestedUse asked;              // empty unless the endpoint is counted
};

// Reads `body` for endpoint `ep`; `bound_tools`: the grant has a budget, so paid server-side tools
// get a bound on their uses and the conversation's parts are read (RequestedUse::input_beyond_bytes;
// without a budget only server-side tools set it). `path_model`: the model a Gemini path names; every
// model the body names beside it (its `model`, each of a batch's `requests[].model`, a token count's
// `generateContentRequest.model`) must be that one, as "models/{model}" or bare: Google documents
// that a batch's requests name the batch's model, and the broker checked the grant for and priced
// the path's, so a body naming another is refused rather than left to the provider's reading.
// kBadRequest for a body that is not a JSON object, a policy field given twice, a field policy
// cannot read, or another model than the path's.
Result<JsonCall> ReadJsonCall(const NativeEndpoint& ep, std::string body, bool bound_tools,
                              std::string_view path_model = {}, Server server = Server::kProvider);

// The members of a body ReadJsonCall keeps for policy (a conversation by its structure and the
// types of its parts, not its text), as a rule a caller that must read more of a body can extend
// (ScanRule::also); and what it keeps of a message, likewise.
extern const ScanRule kPolicyBody;
extern const ScanRule kPolicyMessage;

// ReadJsonCall's reading, for a body the caller scanned itself: with a rule that keeps
// kPolicyBody's members, Duplicates::kRefuse, and found to be an object (`kept`). Bounds the
// broker adds go into `kept` as well as the body.
Result<JsonCall> ReadScannedCall(const NativeEndpoint& ep, std::string body, boost::json::object& kept,
                                 bool bound_tools, std::string_view path_model = {}, Server server = Server::kProvider);

// `body` (read by ReadJsonCall for `ep`, with no output limit of the app's) asking the provider to
// write at most `limit` tokens per answer, reasoning and thinking included: OpenAI's
// max_completion_tokens (chat; max_tokens for an OpenAI-compatible upstream, `built_in` false, as
// those read it) or max_output_tokens (Responses), Gemini's generationConfig.maxOutputTokens (in
// whichever spelling the app's config holds it). For a stream started with less than its worst
// case, so that the provider stops where the reservation does. Anthropic's body is left as it
// is: it cannot be sent without max_tokens.
std::string WithOutputLimit(std::string body, const NativeEndpoint& ep, int64_t limit, bool built_in = true);

// A chat body for a declared OpenAI-compatible upstream (read by ReadJsonCall): a length the app
// gave only as max_completion_tokens (max_tokens absent or null) is given as max_tokens too, as
// the reservation took it. Such servers read max_tokens, some (Ollama) nothing else.
std::string WithMaxTokensCopied(std::string body);

// The refusal of a body that names `member` twice in one object (its name cut short if long).
Error GivenTwice(std::string_view member);

}  // namespace ap::proxy
