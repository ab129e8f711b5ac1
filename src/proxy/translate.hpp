#pragma once
// The reference's chat call, `{model, messages, ...}` in OpenAI's shape, and what it becomes for
// each provider. OpenAI gets the app's bytes, changed only where the broker adds a bound;
// Anthropic and Gemini get the same request in their own shapes, with every parameter that has an
// equivalent mapped and the rest passed on.

#include <array>
#include <boost/assert.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "proxy/providers.hpp"
#include "proxy/request_limits.hpp"

namespace ap::proxy {

// The reference's chat body, read building only what is kept of it: what its checks read (model,
// messages, stream) and what policy reads (json_call.hpp), in a buffer of its own. Read it in place.
class ChatRequest {
 public:
  ChatRequest() = default;
  ChatRequest(const ChatRequest&) = delete;
  ChatRequest& operator=(const ChatRequest&) = delete;

  // Checks `body`: a JSON object with a non-empty `model` string and a non-empty `messages` array
  // of `{role, content}` objects. Failures are kValidation with the reference's field names;
  // kBadRequest for a body that is not a JSON object, or that names a member read here twice in
  // one object (a provider reads the last; the broker reads no member two ways).
  Status Read(std::string_view body);

  const std::string& Model() const { return model_; }
  // The model a call for `provider` reaches: Gemini's translation drops a leading "models/" (as
  // Google's SDKs name models), so that name is the one the grant's scope and prices must see.
  std::string_view ModelCalled(Provider provider) const;
  bool Stream() const { return stream_; }
  // What was kept of the body, for policy to read (json_call.hpp's ReadScannedCall); only once
  // Read succeeded.
  boost::json::object& Kept() {
    BOOST_ASSERT(kept_.is_object());
    return kept_.get_object();
  }

 private:
  // The kept members of a usual body fit here: reading it allocates nothing.
  std::array<unsigned char, 2048> buffer_;
  boost::json::monotonic_resource arena_{buffer_.data(), buffer_.size()};
  boost::json::value kept_ = boost::json::value(boost::json::storage_ptr(&arena_));
  std::string model_;
  bool stream_ = false;
};

struct UpstreamCall {
  std::string path;  // appended to the provider's base URL
  std::string body;
};

// Anthropic requires max_tokens; this is what it gets when the app sets none.
inline constexpr int64_t kDefaultAnthropicMaxTokens = 4096;

// A chat call as it goes upstream, and what it may spend, read from exactly what is sent.
struct ChatCall {
  UpstreamCall upstream;
  RequestedUse asked;
};

// The call for `provider` from a `body` `request` read. OpenAI gets the app's bytes, read as its
// native path reads them (json_call.hpp), a bound the broker adds spliced in. Anthropic and Gemini
// get the request translated, and what may be spent is read from the translation. `bound_tools`:
// as ReadRequestedUse's.
Result<ChatCall> BuildChatCall(Provider provider, ChatRequest& request, std::string body, bool bound_tools,
                               Server server = Server::kProvider);

}  // namespace ap::proxy
