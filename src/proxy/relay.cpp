#include "proxy/relay.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <utility>

#include "core/text_search.hpp"
#include "http/cookies.hpp"
#include "http/fields.hpp"
#include "http/json_text.hpp"
#include "http/server.hpp"
#include "proxy/answer_filter.hpp"
#include "proxy/anthropic_betas.hpp"
#include "proxy/errors.hpp"
#include "proxy/json_call.hpp"
#include "proxy/multipart.hpp"
#include "proxy/openai_vocabulary.hpp"
#include "proxy/sse.hpp"
#include "proxy/wav_header.hpp"

namespace ap::proxy {
namespace json = boost::json;
namespace bhttp = http::bhttp;
using boost::asio::awaitable;
using http::Request;
using http::Response;

namespace {

constexpr size_t kAnswerLimit = 64 << 20;
// How long a stream the app left may be read for what had already arrived (CountArrived).
constexpr std::chrono::milliseconds kCountArrivedFor{1000};

// The length the app's request says its body has (0 without a Content-Length: no body); none when
// it is chunked. The server's parser refused any Content-Length that is not a number (or a list of
// the same number, whose first is read).
std::optional<uint64_t> DeclaredLength(const Request& req) {
  if (req.chunked()) return std::nullopt;
  std::string_view text = http::FirstValue(req, bhttp::field::content_length).value_or("0");
  uint64_t length = 0;
  std::from_chars(text.data(), text.data() + text.size(), length);
  return length;
}

}  // namespace

// An upload relayed as it arrives: the form is read for its model on the way, and the piece read
// last is held back until the grant allowed that model.
struct Relay::Upload {
  Upload(const Request& request, const std::string& boundary)
      : req(request),
        form(boundary, "model"),
        format(boundary, "response_format"),
        file(MultipartField::FileHead(boundary, "file", kWavHeadBytes)) {}
  const Request& req;
  MultipartField form;
  MultipartField format;  // the answer's: whether it will say how long the audio was
  MultipartField file;    // its first bytes: how many bytes a second of its audio takes
  bool admitted = false;
  std::optional<Error> refusal;
  std::string held;
  std::string sending;

  Error Stop(Error e) {
    refusal = e;
    return e;
  }
};

awaitable<Status> RelayHooks::Admit(const WorstCase& worst, bool stream) {
  if (auto admitted = AdmitAtOnce(worst, stream)) co_return std::move(*admitted);
  co_return co_await AdmitFurther();
}

Relay::Relay(Upstream& upstream, const ProviderEndpoint& provider, std::string_view api_key, const domain::Grant& grant,
             http::Exchange& exchange, RelayHooks& hooks)
    : upstream_(upstream),
      provider_(provider),
      api_key_(api_key),
      grant_(grant),
      exchange_(exchange),
      hooks_(hooks),
      wire_(provider.wire) {}

Relay::~Relay() = default;

awaitable<Reply> Relay::Native(const NativeEndpoint& ep, Request& req, std::string_view target,
                               std::string_view path_model) {
  wire_ = ep.wire;
  if (ep.wire == Provider::kAnthropic) {
    if (auto version = CheckAnthropicVersion(req); !version) co_return hooks_.Refusal(version.error());
    if (auto betas = CheckAnthropicBetas(req); !betas) co_return hooks_.Refusal(betas.error());
  }
  if (ep.capability.empty()) co_return co_await ListModels(req, target);
  if (ep.model_in == ModelIn::kMultipart) {
    // A translation's answer says nothing of how long its audio was (see MeteredFormat).
    if (ep.path.ends_with("/translations") && grant_.record.SpendsAgainstABudget())
      co_return hooks_.Refusal(MakeError(Errc::kForbidden,
                                         "A translation's answer does not say how long its audio was, so the broker "
                                         "cannot meter it, and this grant has a budget"));
    co_return co_await RelayUpload(ep, req, target);
  }
  // A declared upstream's body is checked as the app wrote it, before the broker's additions.
  std::string as_sent = provider_.declared ? req.body() : std::string();
  auto call = ReadJsonCall(ep, std::move(req.body()), grant_.record.SpendsAgainstABudget(), path_model,
                           provider_.declared ? Server::kDeclared : Server::kProvider);
  if (!call) co_return hooks_.Refusal(call.error());
  if (provider_.declared) {
    if (auto known = CheckOpenAIVocabulary(ep, as_sent, provider_.extra_members); !known)
      co_return hooks_.Refusal(known.error());
    if (ep.path == OpenAIChatCompletions().path) call->body = WithMaxTokensCopied(std::move(call->body));
  }
  if (ep.model_in == ModelIn::kJsonBody) hooks_.SetModel(call->model);
  if (ep.streams == Streams::kAlways && ep.wire == Provider::kGoogle && http::QueryValue(req.target(), "alt") != "sse")
    co_return hooks_.Refusal(MakeError(Errc::kBadRequest, "Streaming needs alt=sse on this path"));
  bool streams = call->stream || ep.streams == Streams::kAlways;
  WorstCase worst = WorstCaseOf(call->asked, call->body.size());
  worst.wide_context = ep.wire == Provider::kAnthropic && OpensWideContext(req);
  auto allowed = hooks_.AdmitAtOnce(worst, streams);
  if (!allowed) allowed = co_await hooks_.AdmitFurther();
  if (!*allowed) co_return hooks_.Refusal(allowed->error());
  // A stream from an upstream that ignores the limit it was sent is cut there.
  if (int64_t cap = hooks_.OutputCap(); cap != INT64_MAX) {
    call->body = WithReservedLimit(std::move(call->body), ep, worst);
    cut_at_ = cap - worst.predicted_output;
  }
  strip_usage_chunk_ = call->strip_usage_chunk;
  several_gemini_answers_ = ep.wire == Provider::kGoogle && worst.answers > 1;
  http::CallHead upstream = ForwardedCall(req, target, true);
  http::CallBody body{call->body, {}, {}};
  co_return co_await Send(upstream, std::move(body), false);
}

awaitable<Reply> Relay::Chat(UpstreamCall call, const WorstCase& worst) {
  if (provider_.declared) {
    if (auto known = CheckOpenAIVocabulary(OpenAIChatCompletions(), call.body, provider_.extra_members); !known)
      co_return hooks_.Refusal(known.error());
    call.body = WithMaxTokensCopied(std::move(call.body));
  }
  auto admitted = hooks_.AdmitAtOnce(worst, false);
  if (!admitted) admitted = co_await hooks_.AdmitFurther();
  if (!*admitted) co_return hooks_.Refusal(admitted->error());
  // Anthropic's translated call always names its max_tokens, so has no cap to add.
  if (hooks_.OutputCap() != INT64_MAX && provider_.wire != Provider::kAnthropic) {
    const NativeEndpoint& chat =
        provider_.wire == Provider::kGoogle ? GeminiGenerateContent() : OpenAIChatCompletions();
    call.body = WithReservedLimit(std::move(call.body), chat, worst);
  }
  http::CallHead upstream(bhttp::verb::post, call.path);
  upstream.Add("Content-Type", "application/json");
  upstream.Add("Accept", "application/json");
  http::CallBody body{call.body, {}, {}};
  co_return co_await Send(upstream, std::move(body), true);
}

// A stream admitted with less than its worst case, or a call whose reservation guessed the model's
// output limit (OutputCap): the provider is asked to stop where the reservation does, per answer,
// after the prediction's unused tokens it bills beyond any limit and the events that carry none.
std::string Relay::WithReservedLimit(std::string body, const NativeEndpoint& ep, const WorstCase& worst) const {
  int64_t answers = std::max<int64_t>(worst.answers, 1);
  int64_t per_answer =
      std::max<int64_t>(1, (hooks_.OutputCap() - worst.predicted_output) / answers - kStreamEventsBeyondTokens);
  bool built_in = upstream_.Table().For(ep.wire).name == provider_.name;
  return WithOutputLimit(std::move(body), ep, per_answer, built_in);
}

// What of the app's request goes upstream besides the body: never its credentials or cookies.
// Of a field that holds one value, the first; of a list (RFC 9110, 5.3), every line, as the
// broker read them all (anthropic-beta's flags are checked on each). `json_body`: the body is
// JSON as the broker read it, whatever the app said it was. Not the app's Accept: an answer in
// another form than the JSON and events the broker reads for usage (Google's frontends offer
// protobuf) would go through unmetered. A provider's own fields go to that provider only: a
// declared server (a gateway in front of another provider, which may pass them on) or another
// provider gets none, as the broker checks anthropic-beta's flags only on Anthropic's wire.
http::CallHead Relay::ForwardedCall(const Request& req, std::string_view target, bool json_body) const {
  static const http::FieldName kForwarded[] = {http::FieldName("content-type"), http::FieldName("anthropic-version"),
                                               http::FieldName("idempotency-key"), http::FieldName("anthropic-beta"),
                                               http::FieldName("openai-beta")};
  constexpr size_t kContentType = 0, kAnthropicVersion = 1, kFirstList = 3, kAnthropicBeta = 3, kOpenAIBeta = 4;
  bool to_anthropic = wire_ == Provider::kAnthropic && !provider_.declared;
  bool to_openai = wire_ == Provider::kOpenAI && !provider_.declared;
  http::CallHead out(req.method(), target);
  out.fields.reserve(256);
  if (json_body) out.Add("Content-Type", "application/json");
  http::ForEachNamed(req, kForwarded, [&](size_t i, bool first, std::string_view value) {
    if (json_body && i == kContentType) return;
    if ((i == kAnthropicVersion || i == kAnthropicBeta) && !to_anthropic) return;
    if (i == kOpenAIBeta && !to_openai) return;
    if (first || i >= kFirstList) out.Add(kForwarded[i].Text(), value);
  });
  return out;
}

// Sends the call upstream and relays the answer, then settles what it cost before the app sees
// its end: an app holding a complete answer, or the event that cut its stream short, can count on
// its cost being recorded. `whole`: read it whole whatever it is.
awaitable<Reply> Relay::Send(http::CallHead& call, http::CallBody body, bool whole) {
  sent_at_ = std::chrono::steady_clock::now();
  hooks_.UpstreamStarted(sent_at_);
  if (auto ready = upstream_.Prepare(provider_, api_key_, call); !ready) co_return hooks_.Refusal(ready.error());
  // The exchange, its answer's judgement and the relay in this one frame (Upstream::Open's steps).
  auto sent = co_await upstream_.Send(provider_, call, std::move(body), Unwanted());
  // An upload whose form the grant refused on the way (NextUploadPiece) never reached the provider
  // whole: the refusal is the app's answer, whatever the provider made of what it got.
  if (upload_ && upload_->refusal) co_return hooks_.Refusal(*upload_->refusal);
  std::optional<Result<OpenAnswer>> opened = upstream_.Opened(provider_, sent);
  if (!opened) opened = co_await upstream_.ReadRefusal(provider_, api_key_, &hits_, std::move(*sent));
  Result<OpenAnswer>& answer = *opened;
  if (!answer) {
    // A call the provider had whole when it stopped waiting may run on to its end, and be billed:
    // it is charged its worst case. One it answered with a refusal or failure is a request at no
    // cost. One that never reached it is given back.
    if (answer.error().sent_unanswered) hooks_.Settle(usage_, true);
    else if (answer.error().provider_answered)
      hooks_.Settle(usage_, false);
    co_return hooks_.Refusal(cut_for_grant_ ? GrantEnded("Call") : app_left_ ? AppLeft() : answer.error());
  }
  if (!answer->open) {  // the provider refused the call: no cost, but it was a request
    hooks_.Settle(usage_, false);
    hooks_.AddRateHeaders(answer->refusal);
    co_return std::move(answer->refusal);
  }
  http::UpstreamAnswer& open = *answer->open;
  bool events = !whole && IsEventStream(open.Head());
  if (whole || (!events && IsTextual(open.Head()))) co_return co_await SendWhole(open);
  StreamEnd end = events ? co_await RelayEvents(open) : co_await RelayBytes(open);
  if (end != StreamEnd::kComplete) {
    answer->open.reset();  // closed before the app is told: the provider stops writing (and billing) now
    // What came may hold a built-in provider's own closing figures. Not a declared server's, which
    // may send usage before its end (vLLM's continuous_usage_stats puts running totals in every
    // chunk), nor those of one of several Gemini answers, which may finish while the others write on.
    if (provider_.declared || several_gemini_answers_) usage_.closed = false;
    if (!usage_.closed) EstimateCutOffUsage();
  } else if (events && EndedUnclosed()) {
    EstimateCutOffUsage();
  }
  hooks_.Settle(usage_, true);
  // An event stream always ends (a cut one with the event saying why), bytes only when complete.
  if (end != StreamEnd::kAppLeft && (events || end == StreamEnd::kComplete)) co_await exchange_.EndAnswer(ending_);
  co_return std::nullopt;
}

// The error the app is refused with when a whole answer could not be read (`e` says why), logged.
Error Relay::UnreadAnswer(const Error& e) const {
  if (cut_for_grant_) return GrantEnded("Call");
  if (app_left_) return AppLeft();
  spdlog::warn("{} answer could not be read: {}", provider_.name, e.message);
  if (e.code == Errc::kPayloadTooLarge)
    return MakeError(Errc::kUpstream,
                     provider_.name + " sent an answer over " + std::to_string(kAnswerLimit >> 20) + " MB");
  bool late = e.code == Errc::kUpstreamTimeout;
  return MakeError(late ? Errc::kUpstreamTimeout : Errc::kUpstream,
                   provider_.name + (late ? " did not answer in time" : " could not be reached"));
}

// A whole answer (a provider-native one, or the reference chat's) read whole, settled and
// recorded, then sent by the relay itself, its head written as bytes (http/head_bytes.hpp says
// why), as the server would have sent it after the handler: an app that went away meanwhile finds
// its call settled and recorded all the same.
awaitable<Reply> Relay::SendWhole(http::UpstreamAnswer& open) {
  Result<std::string> body = std::string();
  if (!open.TakeRead(kAnswerLimit, body)) body = co_await open.ReadRest(kAnswerLimit, std::move(*body));
  if (!body) {
    Response refusal = hooks_.Refusal(UnreadAnswer(body.error()));
    hooks_.Settle(usage_, true);
    co_return std::move(refusal);
  }
  MergeUsageFromJson(*body, usage_);
  http::AnswerHead head = upstream_.Filter(provider_, api_key_, &hits_).WholeHead(open.Head(), *body);
  hooks_.AddRateHeaders(head);
  hooks_.Settle(usage_, true);
  if (hooks_.AnsweredWhole(static_cast<int>(head.status), hits_.answers)) co_await hooks_.ActOnQuotedKey();
  co_await exchange_.SendAnswer(head, *body);
  co_return std::nullopt;
}

// Passes each event on as soon as it is complete, reading usage on the way. If the app goes away
// the relay stops, which closes the upstream connection and so cancels the call there. What came in
// one read goes out in one write: the head with the events that came with it, the last events
// with the end; nothing is held while the relay waits on the provider. A stream the provider
// broke off, one with an event past the bound, or one that went past the output limit it was sent
// (cut_at_), is ended with an event saying so. What goes out with the end is left in ending_ for
// the caller, who writes it once the call is settled.
awaitable<Relay::StreamEnd> Relay::RelayEvents(http::UpstreamAnswer& open) {
  AnswerFilter filter = upstream_.Filter(provider_, api_key_, &hits_);
  http::AnswerHead head = filter.StreamHead(open.Head());
  hooks_.AddRateHeaders(head);
  hooks_.Streamed(static_cast<int>(head.status));
  SseSplitter splitter;
  exchange_.StartAnswer(head);
  std::string out;
  for (;;) {
    auto read = open.ReadPieceAtOnce();
    if (!read) {
      if (!co_await exchange_.Flush()) co_return co_await CountArrived(open, splitter);
      read = co_await open.ReadPiece();
    }
    Result<std::string_view>& piece = *read;
    if (!piece && app_left_) co_return Abandoned();
    if (!piece) {
      // The app is told in the provider's shape, so its SDK raises an error rather than take the
      // stream for a whole answer (or see a bare connection reset).
      bool ended = cut_for_grant_;
      Error broke = ended ? GrantEnded("Stream") : BrokeOff(piece.error());
      hooks_.Refused(broke);
      ending_ = ProviderErrorEvent(wire_, broke);
      co_return ended ? StreamEnd::kGrantEnded : StreamEnd::kUpstreamBroke;
    }
    out.clear();
    if (piece->empty()) break;
    splitter.Feed(*piece);
    bool spent = false;
    while (auto event = splitter.Next()) {
      if (KeepEvent(*event)) filter.AppendEvent(*event, out);
      if ((spent = OutputSoFar() >= cut_at_)) break;
    }
    // The provider billed the events after the one that reached the limit, sent in the same piece
    // (one that ignored the limit it was sent): they are counted, not passed on.
    if (spent)
      while (auto event = splitter.Next()) KeepEvent(*event);
    if (!out.empty() || spent || splitter.TooLong()) hooks_.FirstEvent();
    // Looked up at each piece the provider sends (the grant cache's copy): a revocation ends the
    // stream at the provider's next piece, and what came after it is counted, not passed on. An
    // upstream silent meanwhile (a model thinking) is cut by Unwanted's test.
    if (hooks_.GrantEndedSince()) {
      ending_ = ProviderErrorEvent(wire_, GrantEnded("Stream"));
      hooks_.Refused(GrantEnded("Stream"));
      co_return StreamEnd::kGrantEnded;
    }
    if (splitter.TooLong()) CountUnfinishedEvent(splitter);
    if (spent || splitter.TooLong()) {
      ending_ = std::move(out);
      if (spent) ending_ += ProviderErrorEvent(wire_, BudgetSpent());
      if (splitter.TooLong()) ending_ += ProviderErrorEvent(wire_, EventTooLong());
      if (spent) hooks_.Refused(BudgetSpent());
      co_return spent ? StreamEnd::kBudget : StreamEnd::kEventTooLong;
    }
    if (open.AtEnd()) break;
    if (!co_await exchange_.WritePiece(out)) co_return co_await CountArrived(open, splitter);
  }
  // An event the stream ended in without its blank line (or before the LF of a last CR) is read
  // for usage too: the provider billed it, whether or not the app's parser takes it.
  if (std::string_view rest = splitter.Rest(); !rest.empty() && KeepEvent(rest)) filter.AppendEvent(rest, out);
  ending_ = std::move(out);
  co_return StreamEnd::kComplete;
}

Error Relay::BrokeOff(const Error& cause) const {
  spdlog::warn("{} stream broke off: {}", provider_.name, cause.message);
  bool late = cause.code == Errc::kUpstreamTimeout;
  return MakeError(late ? Errc::kUpstreamTimeout : Errc::kUpstream,
                   "Stream ended: " + provider_.name + (late ? " did not finish the answer in time" : " broke off the answer"));
}

Error Relay::EventTooLong() const {
  spdlog::warn("{} sent a stream event over {} bytes; stream ended", provider_.name, SseSplitter::kMaxEvent);
  return MakeError(Errc::kUpstream, "Stream ended: " + provider_.name + " sent an event over 8 MB");
}

Error Relay::BudgetSpent() const {
  return MakeError(Errc::kBudgetExceeded, "Stream ended: " + provider_.name +
                                              " wrote past the output limit the grant's budget pays for (" +
                                              std::to_string(OutputSoFar()) + " output tokens)");
}

// A stream cut off before the provider's closing usage (OpenAI reports usage only at the end;
// Anthropic's output only at the end; Gemini's running totals are optional) is counted from what
// went through: one output token per event that carried output (OpenAI streams about one token a
// chunk), or the provider's running total where that is more; on a grant with a budget, up to as
// many as the bytes of output the events held (Usage::output_bound), within what was reserved.
// Its input, where the provider had not reported it yet, is charged as reserved
// (MeteredCall::Used): the provider bills all of it, and an estimate from the request's size would
// fall short for text of short tokens, which an app could write on purpose and then leave.
// An event stream that ended whole after some usage but without its closing usage: Anthropic's
// that ended with an error event (an overload) after message_start, Gemini's without a finished
// candidate (an error object after some chunks), or any that ended early. A stream that reported
// no usage at all is charged its worst case as it is.
bool Relay::EndedUnclosed() const { return !usage_.Empty() && !usage_.closed; }

void Relay::EstimateCutOffUsage() {
  // Gemini may report running totals of the candidates' output in its chunks: once one did, the
  // output is known up to the last chunk. Thoughts alone, or none, say nothing of the text that
  // followed. OpenAI reports only at the end, Anthropic its output at the end.
  bool running_totals = provider_.wire == Provider::kGoogle && usage_.output_counted;
  usage_.output_tokens = std::max(usage_.output_tokens, delta_events_);
  if (usage_.input_tokens == 0) usage_.input_unknown = true;
  usage_.output_unknown = !running_totals;
  if (usage_.output_unknown) usage_.output_bound = output_bytes_;
  usage_.cut = true;
  usage_.streamed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent_at_).count();
}

// An event past the bound, which the stream ends in: the provider billed what it held all the same.
// Its bytes count as output as a delta's do (a token a byte, within what was reserved).
void Relay::CountUnfinishedEvent(const SseSplitter& splitter) {
  ++delta_events_;
  if (grant_.record.SpendsAgainstABudget()) output_bytes_ += static_cast<int64_t>(splitter.Rest().size());
}

// Reads the event's usage; false for the usage chunk the app did not ask for.
bool Relay::KeepEvent(std::string_view event) {
  std::string_view data = EventData(event, event_data_);
  // At least a token for each event that carries output: a delta (OpenAI, Anthropic) or a Gemini
  // chunk's candidate parts (Gemini's running candidatesTokenCount is optional).
  std::string_view output_mark = provider_.wire == Provider::kGoogle ? "\"parts\"" : "\"delta\"";
  bool output = FindText(data, output_mark) != std::string_view::npos;
  // Where a budget is at stake, at most a token a byte: an event may carry several (Anthropic's
  // text deltas often do), and an app leaving before the provider's figures would pay for one.
  bool count_bytes = output && grant_.record.SpendsAgainstABudget();
  EventReading read = ReadStreamEvent(data, usage_, count_bytes);
  if (output) ++delta_events_;
  if (count_bytes) output_bytes_ += std::max<int64_t>(1, read.output_bytes);
  return !(strip_usage_chunk_ && read.usage_only);
}

Error Relay::AppLeft() const {
  return MakeError(Errc::kClientGone, "Call ended: the app went away before the answer; cancelled upstream");
}

Error Relay::GrantEnded(std::string_view what) const {
  return MakeError(Errc::kUnauthorized, std::string(what) + " ended: the grant was revoked or has expired");
}

// The test that ends a call in flight, its answer included, once its grant is revoked or expires,
// or the app went away (http::Deadline::EndWhen): asked a few times a second, so a provider silent
// meanwhile (a model thinking, a whole answer being written) is cut too, and stops billing.
// Once it says so, the call's failures are the grant's end (cut_for_grant_), or the app's leaving
// (app_left_). The app is not asked the first time, as the call goes out: that would cost every
// call a system call, for an app that was there a moment ago.
std::function<bool()> Relay::Unwanted() {
  return [this, first = true]() mutable {
    if ((cut_for_grant_ = hooks_.GrantEndedSince())) return true;
    if (std::exchange(first, false)) return false;
    return app_left_ = exchange_.ClientLeft();
  };
}

// The app left a stream: what of it has already arrived from the provider is read and counted, not
// passed on, before the connection is closed. A stream the app stopped reading stops the relay's
// reads too, and the provider's events then wait in the socket buffers (megabytes, thousands of
// events): the provider bills them all the same. Nothing is waited for that has not arrived, and
// the connection is closed after kCountArrivedFor whatever still comes.
awaitable<Relay::StreamEnd> Relay::CountArrived(http::UpstreamAnswer& open, SseSplitter& splitter) {
  // How long the write that failed waited on the app, and what was counted before it (Usage).
  usage_.app_held_ms = exchange_.LastWriteWaited().count();
  usage_.output_before_hold = OutputSoFar();
  while (OutputSoFar() < cut_at_ && !splitter.TooLong()) {
    auto piece = co_await open.ReadArrived(kCountArrivedFor);
    if (!piece || piece->empty()) break;
    splitter.Feed(*piece);
    for (auto event = splitter.Next(); event && OutputSoFar() < cut_at_; event = splitter.Next()) KeepEvent(*event);
  }
  if (splitter.TooLong()) CountUnfinishedEvent(splitter);
  co_return Abandoned();
}

Relay::StreamEnd Relay::Abandoned() const {
  spdlog::debug("the app left a {} stream early; cancelled upstream", provider_.name);
  return StreamEnd::kAppLeft;
}

// Binary bodies only (audio): relayed as they are (answer_filter.hpp says why).
awaitable<Relay::StreamEnd> Relay::RelayBytes(http::UpstreamAnswer& open) {
  http::AnswerHead head = upstream_.Filter(provider_, api_key_, &hits_).StreamHead(open.Head());
  hooks_.AddRateHeaders(head);
  hooks_.Streamed(static_cast<int>(head.status));
  exchange_.StartAnswer(head);
  for (;;) {
    auto read = open.ReadPieceAtOnce();
    if (!read) {
      if (!co_await exchange_.Flush()) co_return Abandoned();
      read = co_await open.ReadPiece();
    }
    Result<std::string_view>& piece = *read;
    if (!piece && app_left_) co_return Abandoned();
    if (piece ? !piece->empty() && hooks_.GrantEndedSince() : cut_for_grant_) {
      hooks_.Refused(GrantEnded("Stream"));
      co_return StreamEnd::kGrantEnded;
    }
    if (!piece) {
      spdlog::warn("{} answer broke off: {}", provider_.name, piece.error().message);
      co_return StreamEnd::kUpstreamBroke;
    }
    if (piece->empty()) co_return StreamEnd::kComplete;
    hooks_.FirstEvent();
    if (!co_await exchange_.WritePiece(*piece)) co_return Abandoned();
  }
}

// The last piece goes upstream only after the grant allowed the form's model, so a refused upload
// never reaches the provider whole.
awaitable<Reply> Relay::RelayUpload(const NativeEndpoint& ep, Request& req, std::string_view target) {
  auto content_type = req.find(bhttp::field::content_type);
  auto boundary = MultipartBoundary(content_type == req.end() ? "" : content_type->value());
  if (!boundary) co_return hooks_.Refusal(boundary.error());
  upload_ = std::make_unique<Upload>(req, *boundary);
  if (provider_.declared) upload_->form.OnlyNames(OpenAIFormFields(ep, provider_.extra_members));
  http::CallHead upstream = ForwardedCall(req, target, false);
  http::CallBody body{{}, [this]() { return NextUploadPiece(); }, DeclaredLength(req)};
  co_return co_await Send(upstream, std::move(body), false);
}

awaitable<Result<std::string_view>> Relay::NextUploadPiece() {
  Upload& u = *upload_;
  for (;;) {
    auto piece = co_await exchange_.ReadBodyPiece();
    if (!piece) co_return u.Stop(piece.error());
    if (piece->empty()) {
      if (auto whole = u.form.Finish(); !whole) co_return u.Stop(whole.error());
      if (auto metered = MeteredFormat(); !metered) co_return u.Stop(metered.error());
      if (!u.admitted) {
        if (!u.form.Value()) co_return u.Stop(MakeError(Errc::kBadRequest, "'model' is required"));
        if (auto admitted = co_await AdmitUpload(); !admitted) co_return u.Stop(admitted.error());
      }
      u.sending = std::move(u.held);
      u.held.clear();
      co_return std::string_view(u.sending);
    }
    if (auto fed = u.form.Feed(*piece); !fed) co_return u.Stop(fed.error());
    // Only a budget reads the answer's format (MeteredFormat) and the file's head (AdmitUpload),
    // which the admission then waits for too: until the last piece, nothing reaches the provider whole.
    bool budgeted = grant_.record.SpendsAgainstABudget();
    if (budgeted) {
      if (auto fed = u.format.Feed(*piece); !fed) co_return u.Stop(fed.error());
      if (auto fed = u.file.Feed(*piece); !fed) co_return u.Stop(fed.error());
    }
    if (u.form.Value() && !u.admitted && (!budgeted || u.file.Value()))
      if (auto admitted = co_await AdmitUpload(); !admitted) co_return u.Stop(admitted.error());
    u.sending = std::move(u.held);
    u.held.assign(*piece);
    if (!u.sending.empty()) co_return std::string_view(u.sending);
  }
}

// On a grant with a budget, an upload's answer must say what the provider billed: an answer as
// text or subtitles says nothing of how long the audio was, and audio can be far denser than the
// 6 kbit/s its estimate assumes (an hour of compressed silence in some kilobytes). Checked before
// the upload's last piece goes upstream: a refused one never reaches the provider whole.
Status Relay::MeteredFormat() const {
  if (!grant_.record.SpendsAgainstABudget()) return {};
  const std::optional<std::string>& format = upload_->format.Value();
  if (format && *format != "json" && *format != "verbose_json")
    return MakeError(Errc::kForbidden, "'response_format' '" + *format +
                                           "' answers without the usage the broker meters by; on a grant with a "
                                           "budget use 'json' or 'verbose_json'");
  return {};
}

// How many bytes a second of the upload's audio takes as its file's header says, if it is a WAV
// file of fixed-size samples. Only a denser one than 6 kbit/s changes the reservation
// (WorstCaseOfUpload): whatever the name it is sent under, which the provider may read it by.
std::optional<uint64_t> Relay::FileBytesPerSecond() const {
  const std::optional<std::string>& head = upload_->file.Value();
  return head ? WavBytesPerSecond(*head) : std::nullopt;
}

awaitable<Status> Relay::AdmitUpload() {
  Upload& u = *upload_;
  hooks_.SetModel(*u.form.Value());
  u.admitted = true;
  // An upload without a length may be as long as the server lets it be.
  WorstCase worst = WorstCaseOfUpload(DeclaredLength(u.req).value_or(http::kStreamedBodyLimit), FileBytesPerSecond());
  co_return co_await hooks_.Admit(worst, false);
}

// Lists the provider's models the grant allows, in the provider's own list format.
awaitable<Reply> Relay::ListModels(const Request& req, std::string_view target) {
  WorstCase free_call;  // g++ 12 frees a temporary inside a co_await expression twice
  if (auto admitted = co_await hooks_.Admit(free_call, false); !admitted) co_return hooks_.Refusal(admitted.error());
  hooks_.UpstreamStarted(std::chrono::steady_clock::now());
  http::CallHead upstream = ForwardedCall(req, target, false);
  http::CallBody none;
  auto answer = co_await upstream_.Open(provider_, api_key_, &hits_, upstream, std::move(none));
  if (!answer) co_return hooks_.Refusal(answer.error());
  if (!answer->open) co_return std::move(answer->refusal);
  auto body = co_await answer->open->ReadRest(kAnswerLimit);
  if (!body) co_return hooks_.Refusal(MakeError(Errc::kUpstream, provider_.name + " could not be reached"));
  boost::system::error_code ec;
  json::value list = json::parse(*body, ec);
  if (ec || !list.is_object())
    co_return hooks_.Refusal(MakeError(Errc::kUpstream, provider_.name + " sent a broken list"));
  const char* key = wire_ == Provider::kGoogle ? "models" : "data";
  if (auto* items = list.get_object().if_contains(key); items && items->is_array()) {
    json::array kept;
    for (auto& item : items->get_array())
      if (AllowsListedModel(item)) kept.push_back(std::move(item));
    *items = std::move(kept);
  }
  // Written so that it parses to what the reference's JSON.stringify would write: a number JSON
  // cannot carry (1e999, which json::parse reads as infinity) as null, where json::serialize would
  // write no JSON at all.
  co_return upstream_.Filter(provider_, api_key_, &hits_).Whole(answer->open->Head(), http::JsonText(list));
}

bool Relay::AllowsListedModel(const json::value& item) const {
  if (!item.is_object()) return false;
  const char* field = wire_ == Provider::kGoogle ? "name" : "id";
  const auto* id = item.get_object().if_contains(field);
  if (!id || !id->is_string()) return false;
  std::string_view name = id->get_string();
  if (name.starts_with("models/")) name.remove_prefix(7);
  return grant_.scope.AllowsModel(name);
}

}  // namespace ap::proxy
