#include "mock/mock_upstream.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <mutex>

#include "mock/wire.hpp"

namespace ap::mock {
namespace json = boost::json;
using boost::asio::awaitable;
using http::Request;
using http::Response;
namespace bhttp = http::bhttp;

struct MockUpstream::State {
  std::shared_ptr<const MockOptions> options;  // replaced whole when the accepted keys change
  std::mutex mutex;
  json::object counts{{"openai", 0}, {"anthropic", 0}, {"google", 0}};
  json::object last_headers;  // provider -> the headers of its last request
  json::object last_targets;  // provider -> the target of its last request
  json::object last_keys;     // provider -> the key its last request carried
  json::object last_bodies;   // provider -> its last request's body (a JSON one; 64 KiB at most)
  json::object keys;          // provider -> {key: requests that carried it}
  int64_t streams_started = 0;
  int64_t streams_completed = 0;
  int64_t streams_cancelled = 0;
  int64_t pieces_written = 0;  // streamed pieces the kernel took, of every stream
  int64_t paused_mid_body = 0;  // whole answers paused after half their body (--body-pause-ms)
  int64_t given_up = 0;  // calls whose caller had gone by the time their answer was due (--latency-ms)
  MediaCache gemini_cache;

  void Record(std::string_view provider, const Request& req) {
    json::object headers;
    for (const auto& field : req) {  // the lines of one name joined, as a list's are (RFC 9110, 5.3)
      json::value& value = headers[std::string(field.name_string())];
      value = value.is_string() ? std::string(value.as_string()) + ", " + std::string(field.value())
                                : std::string(field.value());
    }
    std::string key = GivenKey(req, provider);
    std::lock_guard lock(mutex);
    counts[provider] = counts[provider].as_int64() + 1;
    last_headers[provider] = std::move(headers);
    last_targets[provider] = std::string(req.target());
    last_keys[provider] = key;
    if (req.body().starts_with('{')) last_bodies[provider] = req.body().substr(0, 64 << 10);
    json::value& seen = keys[provider];
    if (!seen.is_object()) seen = json::object();
    json::value& n = seen.get_object()[key];
    n = n.is_int64() ? n.get_int64() + 1 : 1;
  }

  std::shared_ptr<const MockOptions> Options() {
    std::lock_guard lock(mutex);
    return options;
  }

  // POST /__mock/accept-keys {"keys": [...]}: the keys every provider accepts from now on; an
  // empty list goes back to each provider's own key.
  Response AcceptKeys(const Request& req) {
    boost::system::error_code ec;
    json::value body = json::parse(req.body(), ec);
    const json::value* list = !ec && body.is_object() ? body.get_object().if_contains("keys") : nullptr;
    if (!list || !list->is_array()) return JsonAnswer(400, json::object{{"error", "send {\"keys\": [\"...\"]}"}});
    auto next = std::make_shared<MockOptions>(*Options());
    next->accept_keys.clear();
    for (const auto& key : list->get_array())
      if (key.is_string()) next->accept_keys.emplace_back(key.get_string());
    std::lock_guard lock(mutex);
    options = std::move(next);
    return JsonAnswer(200, json::object{{"acceptKeys", list->get_array()}});
  }

  json::object Stats() {
    std::lock_guard lock(mutex);
    return json::object{{"requests", counts},
                        {"lastHeaders", last_headers},
                        {"lastTargets", last_targets},
                        {"lastKeys", last_keys},
                        {"lastBodies", last_bodies},
                        {"keys", keys},
                        {"streams", json::object{{"started", streams_started},
                                                 {"completed", streams_completed},
                                                 {"cancelled", streams_cancelled},
                                                 {"piecesWritten", pieces_written},
                                                 {"active", streams_started - streams_completed - streams_cancelled}}},
                        {"pausedMidBody", paused_mid_body},
                        {"givenUp", given_up}};
  }

  void CountStream(int64_t State::*counter) {
    std::lock_guard lock(mutex);
    ++(this->*counter);
  }

  MockAnswer Answer(const Request& req) {
    std::string_view path = http::PathOf(req.target());
    if (req.method() == bhttp::verb::get && path == "/__mock/stats") return JsonAnswer(200, Stats());
    if (req.method() == bhttp::verb::post && path == "/__mock/accept-keys") return AcceptKeys(req);
    std::shared_ptr<const MockOptions> held = Options();
    const MockOptions& options = *held;
    std::string_view provider;
    MockAnswer answer = ProviderAnswer(req, path, options, provider);
    if (!provider.empty() && options.overloaded_retry_after >= 0)
      answer = Overloaded(provider, options.overloaded_retry_after);
    if (!provider.empty()) Record(provider, req);
    if (!provider.empty() && AsksToQuoteKey(req)) QuoteKeyInRequestId(answer, provider, GivenKey(req, provider));
    return answer;
  }

  // Each provider's answer when it is overloaded, in its own shape.
  static MockAnswer Overloaded(std::string_view provider, int retry_after) {
    json::value body =
        provider == "anthropic"
            ? json::value{{"type", "error"}, {"error", {{"type", "overloaded_error"}, {"message", "Overloaded"}}}}
        : provider == "google" ? json::value{{"error",
                                              {{"code", 503},
                                               {"message", "The model is overloaded. Please try again later."},
                                               {"status", "UNAVAILABLE"}}}}
                               : json::value{{"error",
                                              {{"message", "The server is overloaded or not ready yet."},
                                               {"type", "server_error"},
                                               {"param", nullptr},
                                               {"code", nullptr}}}};
    MockAnswer answer;
    answer.whole = JsonAnswer(provider == "anthropic" ? 529 : 503, body);
    if (retry_after > 0) answer.whole.set(bhttp::field::retry_after, std::to_string(retry_after));
    return answer;
  }

  // A request that names a quoting model, in its path (Gemini) or its body.
  static bool AsksToQuoteKey(const Request& req) {
    return req.target().find(kQuoteKeyModel) != std::string_view::npos ||
           req.body().find(kQuoteKeyModel) != std::string::npos;
  }

  static void QuoteKeyInRequestId(MockAnswer& answer, std::string_view provider, const std::string& key) {
    answer.request_id_header = provider == "anthropic" ? "request-id" : "x-request-id";
    answer.request_id = "req_" + key;
    answer.whole.set(answer.request_id_header, answer.request_id);
  }

  MockAnswer ProviderAnswer(const Request& req, std::string_view path, const MockOptions& options,
                            std::string_view& provider) {
    // Gemini serves /v1beta and /v1 too; its callers carry x-goog-api-key or ?key=.
    bool gemini_key = req.count("x-goog-api-key") || !QueryParam(req.target(), "key").empty();
    if (path.starts_with("/v1beta/") || (path.starts_with("/v1/models") && gemini_key)) {
      provider = "google";
      return GeminiAnswer(req, path.substr(path.find('/', 1)), options, gemini_cache);
    }
    if (path.starts_with("/v1/messages") || (path == "/v1/models" && req.count("x-api-key"))) {
      provider = "anthropic";
      return AnthropicAnswer(req, path, options);
    }
    if (path.starts_with("/v1/")) {
      provider = "openai";
      return OpenAIAnswer(req, path, options);
    }
    return JsonAnswer(404, json::object{{"error", "not found"}});
  }
};

namespace {

// Sends a streamed answer piece by piece with the configured pause between pieces. A failed write
// means the caller went away: the stream counts as cancelled.
awaitable<bool> SendPieces(const MockAnswer& answer, const MockOptions& options, http::Exchange& exchange,
                           const std::function<void()>& written) {
  http::AnswerHead head;
  head.Add("Content-Type", answer.content_type);
  if (!answer.request_id_header.empty()) head.Add(answer.request_id_header, answer.request_id);
  for (const auto& [name, value] : answer.account_fields) head.Add(name, value);
  exchange.StartAnswer(head);
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  std::string padded;
  bool pads = options.stream_padding_bytes > 0 && answer.content_type.starts_with("text/event-stream");
  for (size_t i = 0; i < answer.pieces.size(); ++i) {
    if (i > 0 && options.stream_delay_ms > 0) {
      timer.expires_after(std::chrono::milliseconds(options.stream_delay_ms));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    if (pads) padded = ":" + std::string(options.stream_padding_bytes, 'x') + "\n" + answer.pieces[i];
    if (!co_await exchange.WritePiece(pads ? padded : answer.pieces[i])) co_return false;
    written();
  }
  co_return static_cast<bool>(co_await exchange.EndAnswer({}));
}

// Sends a whole answer as its head and the first half of its body, then (`paused` told) the
// configured pause, then the rest.
awaitable<void> SendWholeWithPause(const Response& whole, const MockOptions& options, http::Exchange& exchange,
                                   const std::function<void()>& paused) {
  http::AnswerHead head(whole.result_int());
  for (const auto& field : whole)
    if (field.name() != bhttp::field::content_length) head.Add(field.name_string(), field.value());
  std::string_view body = whole.body();
  exchange.StartAnswer(head);
  if (!co_await exchange.WritePiece(body.substr(0, body.size() / 2))) co_return;
  paused();
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  timer.expires_after(std::chrono::milliseconds(options.body_pause_ms));
  co_await timer.async_wait(boost::asio::use_awaitable);
  co_await exchange.EndAnswer(body.substr(body.size() / 2));
}

}  // namespace

MockUpstream::MockUpstream(MockOptions options) : state_(std::make_shared<State>()) {
  state_->options = std::make_shared<const MockOptions>(std::move(options));
}
MockUpstream::~MockUpstream() = default;

http::Handler MockUpstream::Handler() {
  auto state = state_;
  return [state](Request& req, http::Exchange& exchange) -> awaitable<Response> {
    std::shared_ptr<const MockOptions> options = state->Options();
    if (options->latency_ms > 0) {
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(options->latency_ms));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    // A caller that left while the answer was delayed (a provider thinking) is counted, and not
    // answered.
    if (options->latency_ms > 0 && exchange.ClientLeft()) {
      state->CountStream(&State::given_up);
      co_return Response();
    }
    MockAnswer answer = state->Answer(req);
    bool own_path = http::PathOf(req.target()).starts_with("/__mock/");
    if (answer.pieces.empty() && options->body_pause_ms > 0 && !own_path && !answer.whole.body().empty()) {
      std::function<void()> paused = [&state] { state->CountStream(&State::paused_mid_body); };
      co_await SendWholeWithPause(answer.whole, *options, exchange, paused);
      co_return Response();
    }
    if (answer.pieces.empty()) co_return std::move(answer.whole);
    state->CountStream(&State::streams_started);
    std::function<void()> written = [&state] { state->CountStream(&State::pieces_written); };
    bool completed = co_await SendPieces(answer, *options, exchange, written);
    state->CountStream(completed ? &State::streams_completed : &State::streams_cancelled);
    co_return Response();
  };
}

}  // namespace ap::mock
