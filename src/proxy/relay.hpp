#pragma once
// The relay: sends one admitted call to its provider with the broker's key and passes the answer
// back to the app as the provider sends it: whole answers read whole (so a key split across pieces
// is found), server-sent events one event at a time (usage read on the way, the stream ended
// cleanly where the reservation runs out), binary bodies byte for byte, uploads as they arrive.
// What the broker decides around the call (the grant's scope and limits, its charge, the shape of
// a refusal on the path it came on, its activity row) it asks of RelayHooks, which api/ implements.
// Thread-safety: none; one Relay and one RelayHooks per call, used by its handler's coroutine.

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/json/fwd.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "domain/grant.hpp"
#include "http/exchange.hpp"
#include "http/message.hpp"
#include "proxy/endpoints.hpp"
#include "proxy/translate.hpp"
#include "proxy/upstream.hpp"
#include "proxy/usage.hpp"
#include "proxy/worst_case.hpp"

namespace ap::proxy {

class SseSplitter;

class RelayHooks {
 public:
  virtual ~RelayHooks() = default;
  // The model the call names, for its record; Admit checks and prices this one.
  virtual void SetModel(std::string_view model) = 0;
  // Checks the call against the grant's scope and limits and reserves `worst`, or says why not.
  // `stream`: the answer may be cut, so a call without an output limit may start with less. In two
  // steps, so that most calls need no coroutine for it: AdmitAtOnce decides without waiting where
  // it can, else returns nothing, and the relay then awaits AdmitFurther (Admit does both).
  virtual std::optional<Status> AdmitAtOnce(const WorstCase& worst, bool stream) = 0;
  virtual boost::asio::awaitable<Status> AdmitFurther() = 0;
  boost::asio::awaitable<Status> Admit(const WorstCase& worst, bool stream);
  // The output tokens the reservation pays for (no limit before Admit): a stream admitted with
  // less than its worst case asks the provider to stop there (WithOutputLimit).
  virtual int64_t OutputCap() const = 0;
  // Adds the grant's x-ratelimit-* headers to `answer` (none before Admit).
  virtual void AddRateHeaders(http::Response& answer) const = 0;
  virtual void AddRateHeaders(http::AnswerHead& answer) const = 0;
  // Charges what the call used once Admit reserved: the meter at once, the store's row written
  // behind (metering/usage_recorder.hpp). `succeeded`: the provider answered 2xx.
  virtual void Settle(const Usage& usage, bool succeeded) = 0;
  // The answer refusing the call with `error`, in its path's shape; the refusal is recorded.
  virtual http::Response Refusal(const Error& error) = 0;
  // Records that the broker ended an answer already started (a stream) with `error`.
  virtual void Refused(const Error& error) = 0;
  // Records that the call is sent to the provider now (`at`, the relay's own reading of the clock).
  virtual void UpstreamStarted(std::chrono::steady_clock::time_point at) = 0;
  // Records that the answer is a stream that started with `status`.
  virtual void Streamed(int status) = 0;
  // Records the call as answered whole with `status`, its answers having quoted its key
  // `quoted_key_answers` times: before the relay sends that answer itself, so that the app never
  // holds an answer whose call is not on record yet. True when its answers quoted the key: the
  // relay then awaits ActOnQuotedKey before it sends the answer.
  virtual bool AnsweredWhole(int status, int quoted_key_answers) = 0;
  // Acts on a call whose answers quoted its key (a grant whose answers quote its key too often is
  // revoked). Apart from AnsweredWhole, which most calls need without a coroutine frame.
  virtual boost::asio::awaitable<void> ActOnQuotedKey() = 0;
  // Records that something of the streamed answer reached the app (the first time counts).
  virtual void FirstEvent() = 0;
  // Whether the grant was revoked, or has expired, since the call was admitted (on this broker or,
  // through the change feed, on another): a call still in flight is ended then. Cheap: the grant
  // cache's copy; a grant the cache no longer holds is taken as ended (the change feed refreshes
  // the cache rather than clear it, so only a grant that cannot be read any more goes).
  virtual bool GrantEndedSince() const = 0;
};

// What a relay gives its caller to answer with: the answer, or nothing when the relay sent the
// answer itself (a stream, or a whole answer through Exchange::SendAnswer). Nothing moves but a
// flag on the way back up for an answer already sent.
using Reply = std::optional<http::Response>;

class Relay {
 public:
  // `api_key` (empty for a keyless server), `grant`, `exchange` and `hooks` outlive the relay.
  Relay(Upstream& upstream, const ProviderEndpoint& provider, std::string_view api_key, const domain::Grant& grant,
        http::Exchange& exchange, RelayHooks& hooks);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // A provider-native call on `ep`: a JSON body (taken from `req`), an upload (read from the
  // exchange as it arrives) or a model list, sent to `target` (path and query under the
  // provider's base). `path_model`: the model a Gemini path names (empty on other paths).
  boost::asio::awaitable<Reply> Native(const NativeEndpoint& ep, http::Request& req, std::string_view target,
                                       std::string_view path_model);
  // The reference's chat call, translated for the provider, whose worst case is `worst`: read whole
  // whatever it is, and sent as the native paths send a whole answer.
  boost::asio::awaitable<Reply> Chat(UpstreamCall call, const WorstCase& worst);

  // How many of the call's answers quoted its key (KeyLeakGuard's count).
  int QuotedKeyAnswers() const { return hits_.answers; }

 private:
  enum class StreamEnd { kComplete, kBudget, kEventTooLong, kUpstreamBroke, kAppLeft, kGrantEnded };
  struct Upload;

  http::CallHead ForwardedCall(const http::Request& req, std::string_view target, bool json_body) const;
  std::string WithReservedLimit(std::string body, const NativeEndpoint& ep, const WorstCase& worst) const;
  boost::asio::awaitable<Reply> Send(http::CallHead& call, http::CallBody body, bool whole);
  boost::asio::awaitable<Reply> SendWhole(http::UpstreamAnswer& open);
  boost::asio::awaitable<StreamEnd> RelayEvents(http::UpstreamAnswer& open);
  boost::asio::awaitable<StreamEnd> RelayBytes(http::UpstreamAnswer& open);
  boost::asio::awaitable<Reply> ListModels(const http::Request& req, std::string_view target);
  boost::asio::awaitable<Reply> RelayUpload(const NativeEndpoint& ep, http::Request& req, std::string_view target);
  Status MeteredFormat() const;
  boost::asio::awaitable<Result<std::string_view>> NextUploadPiece();
  boost::asio::awaitable<Status> AdmitUpload();
  std::optional<uint64_t> FileBytesPerSecond() const;
  bool KeepEvent(std::string_view event);
  bool AllowsListedModel(const boost::json::value& item) const;
  int64_t OutputSoFar() const { return std::max(usage_.output_tokens, delta_events_); }
  Error BudgetSpent() const;
  Error UnreadAnswer(const Error& e) const;
  // The error ending a stream the provider broke off (`cause` says how), logged.
  Error BrokeOff(const Error& cause) const;
  Error EventTooLong() const;
  void CountUnfinishedEvent(const SseSplitter& splitter);
  boost::asio::awaitable<StreamEnd> CountArrived(http::UpstreamAnswer& open, SseSplitter& splitter);
  StreamEnd Abandoned() const;
  // "`what` ended: the grant was revoked or has expired".
  Error GrantEnded(std::string_view what) const;
  // The refusal of a call whose app went away before its answer (recorded, never read).
  Error AppLeft() const;
  std::function<bool()> Unwanted();
  // What a stream ended before the provider's usage is charged (see the definition).
  void EstimateCutOffUsage();
  bool EndedUnclosed() const;

  Upstream& upstream_;
  const ProviderEndpoint& provider_;
  std::string_view api_key_;
  const domain::Grant& grant_;
  http::Exchange& exchange_;
  RelayHooks& hooks_;
  Provider wire_;  // the shape of the app's path, for errors ended streams carry
  bool strip_usage_chunk_ = false;
  bool several_gemini_answers_ = false;  // candidateCount above 1: one answer's end is not the call's
  std::string ending_;  // what goes out with the end of a stream, once the call is settled
  ScrubHits hits_;  // answers of this call that quoted its key
  Usage usage_;
  int64_t delta_events_ = 0;
  int64_t output_bytes_ = 0;    // on a grant with a budget: the bytes of output the events held (Usage::output_bound)
  int64_t cut_at_ = INT64_MAX;  // the output a stream is ended at (Native sent the provider a limit below it)
  std::string event_data_;      // an event's data lines joined
  std::chrono::steady_clock::time_point sent_at_;  // when the call went upstream
  std::unique_ptr<Upload> upload_;  // only for uploads
  bool cut_for_grant_ = false;      // Unwanted's test ended the call for its grant
  bool app_left_ = false;           // or for the app, gone
};

}  // namespace ap::proxy
