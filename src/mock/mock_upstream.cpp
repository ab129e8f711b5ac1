#include "mock/mock_upstream.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <mutex>

#include "mock/wire.hpp"

namespace ap::mock {
namespace json = boost::json;
using boost::asio::awaitable;
using http::Request;
using http::Response;
namespace bhttp = http::bhttp;

struct MockUpstream::State {
  MockOptions options;
  std::mutex mutex;
  json::object counts{{"openai", 0}, {"anthropic", 0}, {"google", 0}};
  json::object last_headers;  // provider -> the headers of its last request
  json::object last_targets;  // provider -> the target of its last request
  int64_t streams_started = 0;
  int64_t streams_completed = 0;
  int64_t streams_cancelled = 0;

  void Record(std::string_view provider, const Request& req) {
    json::object headers;
    for (const auto& field : req) headers[std::string(field.name_string())] = std::string(field.value());
    std::lock_guard lock(mutex);
    counts[provider] = counts[provider].as_int64() + 1;
    last_headers[provider] = std::move(headers);
    last_targets[provider] = std::string(req.target());
  }

  json::object Stats() {
    std::lock_guard lock(mutex);
    return json::object{{"requests", counts},
                        {"lastHeaders", last_headers},
                        {"lastTargets", last_targets},
                        {"streams", json::object{{"started", streams_started},
                                                 {"completed", streams_completed},
                                                 {"cancelled", streams_cancelled},
                                                 {"active", streams_started - streams_completed - streams_cancelled}}}};
  }

  void CountStream(int64_t State::*counter) {
    std::lock_guard lock(mutex);
    ++(this->*counter);
  }

  MockAnswer Answer(const Request& req) {
    std::string_view path = http::PathOf(req.target());
    if (req.method() == bhttp::verb::get && path == "/__mock/stats") return JsonAnswer(200, Stats());
    // Gemini serves /v1beta and /v1 too; its callers carry x-goog-api-key or ?key=.
    bool gemini_key = req.count("x-goog-api-key") || !QueryParam(req.target(), "key").empty();
    if (path.starts_with("/v1beta/") || (path.starts_with("/v1/models") && gemini_key)) {
      Record("google", req);
      return GeminiAnswer(req, path.substr(path.find('/', 1)), options);
    }
    if (path.starts_with("/v1/messages") || (path == "/v1/models" && req.count("x-api-key"))) {
      Record("anthropic", req);
      return AnthropicAnswer(req, path, options);
    }
    if (path.starts_with("/v1/")) {
      Record("openai", req);
      return OpenAIAnswer(req, path, options);
    }
    return JsonAnswer(404, json::object{{"error", "not found"}});
  }
};

namespace {

// Sends a streamed answer piece by piece with the configured pause between pieces. A failed write
// means the caller went away: the stream counts as cancelled.
awaitable<bool> SendPieces(const MockAnswer& answer, const MockOptions& options, http::Exchange& exchange) {
  Response head(http::StatusCode::ok, 11);
  head.set(bhttp::field::content_type, answer.content_type);
  if (!answer.request_id_header.empty()) head.set(answer.request_id_header, answer.request_id);
  if (!co_await exchange.StartAnswer(head)) co_return false;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (size_t i = 0; i < answer.pieces.size(); ++i) {
    if (i > 0 && options.stream_delay_ms > 0) {
      timer.expires_after(std::chrono::milliseconds(options.stream_delay_ms));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    if (!co_await exchange.WritePiece(answer.pieces[i])) co_return false;
  }
  co_return static_cast<bool>(co_await exchange.EndAnswer());
}

}  // namespace

MockUpstream::MockUpstream(MockOptions options) : state_(std::make_shared<State>()) {
  state_->options = std::move(options);
}
MockUpstream::~MockUpstream() = default;

http::Handler MockUpstream::Handler() {
  auto state = state_;
  return [state](Request& req, http::Exchange& exchange) -> awaitable<Response> {
    if (state->options.latency_ms > 0) {
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(state->options.latency_ms));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    MockAnswer answer = state->Answer(req);
    if (answer.pieces.empty()) co_return std::move(answer.whole);
    state->CountStream(&State::streams_started);
    bool completed = co_await SendPieces(answer, state->options, exchange);
    state->CountStream(completed ? &State::streams_completed : &State::streams_cancelled);
    co_return Response();
  };
}

}  // namespace ap::mock
