#include "proxy/json_call.hpp"

#include <boost/json.hpp>

#include "proxy/request_limits.hpp"

namespace ap::proxy {
namespace json = boost::json;

Result<JsonCall> ReadJsonCall(const NativeEndpoint& ep, std::string body, bool bound_tools) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) return MakeError(Errc::kBadRequest, "The request body must be a JSON object");
  json::object& o = value.get_object();
  JsonCall call;
  if (ep.model_in == ModelIn::kJsonBody) {
    const json::value* model = o.if_contains("model");
    if (model && model->is_string() && !model->get_string().empty())
      call.model = model->get_string();
    else if (model && !model->is_null())
      return MakeError(Errc::kBadRequest, "'model' must be a non-empty string");
    else if (!ep.default_model.empty())
      call.model = ep.default_model;
    else
      return MakeError(Errc::kBadRequest, "'model' is required");
  }
  RequestedUse asked;
  if (ep.counted) {
    auto read = ReadRequestedUse(ep.wire, ep.capability, o, bound_tools);
    if (!read) return read.error();
    asked = std::move(*read);
  }
  const json::value* stream = o.if_contains("stream");
  if (stream && !stream->is_bool() && !stream->is_null())
    return MakeError(Errc::kBadRequest, "'stream' must be true or false");
  call.stream = ep.streams == Streams::kWhenAsked && stream && stream->is_bool() && stream->get_bool();
  bool chat_completions = ep.wire == Provider::kOpenAI && ep.path == "/v1/chat/completions";
  if (call.stream && chat_completions) {
    json::value& options = o["stream_options"];
    if (!options.is_object()) options = json::object();
    json::value& include = options.get_object()["include_usage"];
    call.strip_usage_chunk = !(include.is_bool() && include.get_bool());
    if (call.strip_usage_chunk) include = true;
  }
  call.body = asked.body_changed || call.strip_usage_chunk ? json::serialize(value) : std::move(body);
  call.worst = WorstCaseOf(asked, call.body.size());
  return call;
}

}  // namespace ap::proxy
