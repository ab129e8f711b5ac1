#include "api/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <utility>

#include "core/base64url.hpp"
#include "core/ids.hpp"
#include "http/fields.hpp"
#include "http/response.hpp"
#include "telemetry/logging.hpp"

namespace ap::api {
using boost::asio::awaitable;
using http::Request;
using http::Response;
using http::StatusCode;

namespace {

// Browser apps call the broker from their own origin, as the reference allowed with cors().
// No endpoint relies on cookies, so a page on another origin gains nothing it could not do
// without the browser.
Response Preflight(const Request& req) {
  Response res(StatusCode::no_content, req.version());
  res.set(http::bhttp::field::access_control_allow_methods, "GET, POST, OPTIONS");
  auto requested = req.find(http::bhttp::field::access_control_request_headers);
  res.set(http::bhttp::field::access_control_allow_headers,
          requested != req.end() ? std::string(requested->value()) : "Authorization, Content-Type");
  res.set(http::bhttp::field::access_control_max_age, "600");
  return res;
}

// What every answer carries.
constexpr std::pair<std::string_view, std::string_view> kCommonHeaders[] = {{"Access-Control-Allow-Origin", "*"},
                                                                            {"X-Content-Type-Options", "nosniff"}};

void AddCommonHeaders(Response& res) {
  for (auto [name, value] : kCommonHeaders) res.set(name, value);
}
void AddCommonHeaders(http::AnswerHead& head) {
  for (auto [name, value] : kCommonHeaders) head.Add(name, value);
}

constexpr std::string_view kRequestId = "x-request-id";
constexpr std::string_view kBrokerRequestId = "x-aipassport-request-id";

// The broker's id goes in x-aipassport-request-id always, and in x-request-id unless the provider's
// own id is there already (apps quote that one to their provider's support).
void SetRequestId(Response& res, std::string_view id) {
  static const http::FieldName kProvidersId(kRequestId);
  res.set(kBrokerRequestId, id);
  if (!http::Has(res, kProvidersId)) res.set(kRequestId, id);
}
void SetRequestId(http::AnswerHead& head, std::string_view id) {
  head.Add(kBrokerRequestId, id);
  if (!head.Has(kRequestId)) head.Add(kRequestId, id);
}

// Gives an answer the handler sends itself (streamed, or whole as bytes) the same common headers as
// one it returns, and remembers its status.
class DecoratedExchange final : public http::Exchange {
 public:
  DecoratedExchange(http::Exchange& inner, std::string_view request_id) : inner_(inner), request_id_(request_id) {}
  awaitable<Result<std::string_view>> ReadBodyPiece() override { return inner_.ReadBodyPiece(); }
  void StartAnswer(http::AnswerHead& head) override {
    Decorate(head);
    inner_.StartAnswer(head);
  }
  awaitable<Status> Flush() override { return inner_.Flush(); }
  awaitable<Status> WritePiece(std::string_view data) override { return inner_.WritePiece(data); }
  awaitable<Status> EndAnswer(std::string_view last) override { return inner_.EndAnswer(last); }
  awaitable<Status> SendAnswer(http::AnswerHead& head, std::string_view body) override {
    Decorate(head);
    return inner_.SendAnswer(head, body);
  }
  bool AnswerStarted() const override { return inner_.AnswerStarted(); }
  std::string PeerAddress() const override { return inner_.PeerAddress(); }
  bool ClientLeft() const override { return inner_.ClientLeft(); }
  std::chrono::milliseconds LastWriteWaited() const override { return inner_.LastWriteWaited(); }
  unsigned HeadStatus() const { return status_; }

 private:
  void Decorate(http::AnswerHead& head) {
    AddCommonHeaders(head);
    SetRequestId(head, request_id_);
    status_ = head.status;
  }

  http::Exchange& inner_;
  std::string_view request_id_;
  unsigned status_ = 0;
};

// The answer to a request no handler takes: a preflight, or a path or method the broker does not
// serve (`match`), or nothing.
std::optional<Response> Unrouted(const Request& req, const http::Router::Match& match) {
  if (req.method() == http::Verb::options) return Preflight(req);
  if (match.handler) return std::nullopt;
  if (match.allowed.empty()) return http::ErrorResponse(Errc::kNotFound, "Not found");
  Response res = http::ErrorResponse(Errc::kMethodNotAllowed,
                                     "Method " + std::string(req.method_string()) + " is not allowed here");
  std::string allow;
  for (auto v : match.allowed) allow += (allow.empty() ? "" : ", ") + std::string(http::bhttp::to_string(v));
  res.set(http::bhttp::field::allow, allow);
  return res;
}

// The answer to a request whose handler threw `failure`, logged.
Response Failed(const Request& req, std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    spdlog::error("handler for {} failed: {}", std::string(req.method_string()), e.what());
  } catch (...) {
    spdlog::error("handler for {} failed", std::string(req.method_string()));
  }
  return http::ErrorResponse(Errc::kInternal, "Internal error");
}

// A request id: 16 base64url characters, 6 random bytes drawn once per thread and a 6-byte count.
// Unique within the process and across restarts with overwhelming odds; not a secret (it only ties
// log lines to answers), so it spends no call to the system's random generator per request. Held
// in place: 16 characters are one more than a std::string holds without an allocation.
class RequestId {
 public:
  RequestId() {
    thread_local std::string bytes = RandomBytes(12);
    thread_local uint64_t count = 0;
    uint64_t n = ++count;
    for (int i = 0; i < 6; ++i) bytes[6 + i] = static_cast<char>(n >> (8 * i));
    static_assert(sizeof text_ == 16);
    Base64UrlEncodeTo(bytes, text_);
  }
  std::string_view View() const { return {text_, sizeof text_}; }

 private:
  char text_[16];
};

}  // namespace

// Each request gets a fresh id (one sent by the client is not taken: it could forge or flood the
// log), returned as x-aipassport-request-id (and x-request-id) and written on its access log line.
http::Handler MakeDispatcher(const http::Router& router) {
  return [&router](Request& req, http::Exchange& exchange) -> awaitable<Response> {
    auto started = std::chrono::steady_clock::now();
    RequestId id;
    std::string_view request_id = id.View();
    DecoratedExchange decorated(exchange, request_id);
    // Routed here rather than in a coroutine of its own: a frame less for every request.
    auto match = router.Find(req.method(), http::PathOf(req.target()));
    std::string_view route = req.method() == http::Verb::options ? std::string_view() : match.pattern;
    Response res;
    if (auto answer = Unrouted(req, match)) {
      res = std::move(*answer);
    } else {
      std::exception_ptr failure;
      try {
        res = co_await (*match.handler)(req, match.params, decorated);
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) res = Failed(req, failure);
    }
    if (!decorated.AnswerStarted()) {  // else what went out had them, and this one is not sent
      AddCommonHeaders(res);
      SetRequestId(res, request_id);
    }
    telemetry::RequestLine line;
    line.request_id = request_id;
    std::string method(req.method_string());
    line.method = method;
    line.route = route;
    line.status = decorated.AnswerStarted() ? decorated.HeadStatus() : res.result_int();
    line.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    line.upstream_ms = decorated.notes.upstream_ms;
    line.grant_id = decorated.notes.grant_id;
    telemetry::LogRequest(line);
    co_return res;
  };
}

http::StreamsBody MakeBodyPolicy(const http::Router& router) {
  return [&router](const http::RequestHead& head) {
    return router.StreamsBody(head.method(), http::PathOf(head.target()));
  };
}

}  // namespace ap::api
