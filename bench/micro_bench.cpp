// Micro-benchmarks of the per-call work on the hot path that does not touch a socket. Where the
// broker used to build a whole JSON value, the old way (`..._Dom`) runs beside the targeted scan
// that replaced it, on the same input.
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/json.hpp>
#include <filesystem>

#include "core/ids.hpp"
#include "domain/scope.hpp"
#include "domain/token_service.hpp"
#include "http/answer_reader.hpp"
#include "http/router.hpp"
#include "metering/meter.hpp"
#include "proxy/endpoints.hpp"
#include "proxy/json_call.hpp"
#include "proxy/key_scrubber.hpp"
#include "proxy/sse.hpp"
#include "proxy/translate.hpp"
#include "proxy/usage.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace {

using ap::crypto::Ed25519Key;
using ap::crypto::SigningKey;
using ap::crypto::SigningKeyRing;

std::shared_ptr<const SigningKeyRing> Ring() {
  static auto ring =
      std::make_shared<const SigningKeyRing>(SigningKeyRing::FromKeys({SigningKey{"k", Ed25519Key::Generate()}}));
  return ring;
}

void BM_TokenIssue(benchmark::State& state) {
  ap::domain::TokenService tokens(Ring(), {}, ap::SystemClock());
  for (auto _ : state) benchmark::DoNotOptimize(tokens.Issue("grant-id", std::nullopt));
}
BENCHMARK(BM_TokenIssue);

// A token seen before: a hash-map lookup keyed by the token.
void BM_TokenVerifyCached(benchmark::State& state) {
  ap::domain::TokenService tokens(Ring(), {}, ap::SystemClock());
  auto token = tokens.Issue("grant-id", std::nullopt).token;
  for (auto _ : state) benchmark::DoNotOptimize(tokens.Verify(token));
}
BENCHMARK(BM_TokenVerifyCached);

// A token's first use: the Ed25519 signature check and claim parsing.
void BM_TokenVerifyFirstUse(benchmark::State& state) {
  ap::domain::TokenService issuer(Ring(), {}, ap::SystemClock());
  auto token = issuer.Issue("grant-id", std::nullopt).token;
  for (auto _ : state) {
    ap::domain::TokenService fresh(Ring(), {}, ap::SystemClock());
    benchmark::DoNotOptimize(fresh.Verify(token));
  }
}
BENCHMARK(BM_TokenVerifyFirstUse);

constexpr std::string_view kChat = R"({"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},
  {"role":"user","content":"Summarise the following paragraph in one sentence, please, and keep the names."}],
  "max_tokens":256,"temperature":0.2})";

// /proxy/chat's reading of its body, then the call for each provider.
void BM_ChatCall(benchmark::State& state, ap::proxy::Provider provider) {
  for (auto _ : state) {
    ap::proxy::ChatRequest request;
    if (!request.Read(kChat)) {
      state.SkipWithError("the body was refused");
      break;
    }
    benchmark::DoNotOptimize(ap::proxy::BuildChatCall(provider, request, std::string(kChat), true));
  }
}
BENCHMARK_CAPTURE(BM_ChatCall, OpenAI, ap::proxy::Provider::kOpenAI);
BENCHMARK_CAPTURE(BM_ChatCall, Anthropic, ap::proxy::Provider::kAnthropic);
BENCHMARK_CAPTURE(BM_ChatCall, Gemini, ap::proxy::Provider::kGoogle);

// A 2 KB answer with no key in it, scrubbed of the key its call spent (one of three held): what
// every relayed answer and event pays, plus taking the key's set once per answer.
void BM_ScrubCleanAnswer(benchmark::State& state) {
  ap::proxy::KeyScrubber scrubber;
  const std::string spent = "sk-proj-Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH";
  scrubber.Update({spent, "sk-ant-api03-ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQ",
                   "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"});
  std::string answer;
  while (answer.size() < 2048) answer += kChat;
  answer.resize(2048);
  auto keys = scrubber.For(spent);
  for (auto _ : state) {
    std::string text = answer;
    benchmark::DoNotOptimize(keys->Scrub(text));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2048);
}
BENCHMARK(BM_ScrubCleanAnswer);

// What CheckScope does on every call: the model's form, the capability, the model against the grant's list.
void BM_ScopeCheck(benchmark::State& state) {
  ap::domain::Scope scope;
  scope.provider = "openai";
  scope.capabilities = {"chat", "embeddings"};
  scope.models = {"gpt-4.1-mini", "o3*", "gpt-4o*"};
  for (auto _ : state) {
    bool ok = ap::domain::IsModelId("gpt-4o-mini-2024-07-18") && scope.AllowsCapability("chat") &&
              scope.AllowsModel("gpt-4o-mini-2024-07-18");
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_ScopeCheck);

// Admit and settle one call of a grant with a budget whose lease this broker already holds: the
// in-memory path every call takes between trips to the store.
void BM_AdmitLeaseHeld(benchmark::State& state) {
  namespace asio = boost::asio;
  char tmpl[] = "/tmp/ap-bench-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(tmpl);
  {
    auto store = ap::store::OpenSqliteStore(dir / "db").value();
    (void)store->Metering().Heartbeat("node-1", 100, 0);
    ap::domain::Scope scope;
    scope.provider = "openai";
    scope.capabilities = {"chat"};
    scope.rate_limit = 1000000000;
    scope.max_concurrent = 100;
    auto r = ap::domain::MakeGrantRequest("app", "https://app.example", "", scope, "hash", 100);
    r.grant.budget_micros = int64_t{1} << 50;
    r.grant.status = ap::store::GrantStatus::kApproved;
    (void)store->Grants().CreateGrantRequest(r.request, r.grant);
    ap::domain::Grant grant{store->Grants().GetGrant(r.grant.id).value(), scope};
    ap::http::BlockingPool pool(1);
    {
      ap::metering::Meter meter(*store, pool, {"node-1", 1000, {}});
      asio::io_context io;
      auto run = [&]() -> asio::awaitable<void> {
        ap::metering::Ask ask{1000, 1000, 100, true};
        ap::metering::RateHeaders headers;
        auto first = co_await meter.Admit(grant, ask, headers);  // takes the lease
        if (first) first->Settle(10, 10);
        for (auto _ : state) {
          auto ticket = co_await meter.Admit(grant, ask, headers);
          if (ticket)
            ticket->Settle(10, 10);
          else
            state.SkipWithError(ticket.error().message.c_str());
        }
      };
      asio::co_spawn(io, run, asio::detached);
      io.run();
      meter.ReturnUnreservedLeases();
    }
    pool.Join();
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AdmitLeaseHeld);

// The store thread's share of a call: its activity row, written as a busy broker writes them, a
// transaction of 250 rows (ActivityRecorder::kChunkRows) into a table that already holds some,
// to its SQLite file (WAL, synchronous NORMAL, as the broker opens it). Per row.
void BM_ActivityRows(benchmark::State& state) {
  constexpr size_t kChunk = 250;
  char tmpl[] = "/tmp/ap-bench-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(tmpl);
  {
    auto store = ap::store::OpenSqliteStore(dir / "db").value();
    std::vector<ap::store::ActivityRecord> rows(kChunk);
    std::string grant_id = ap::RandomUuid(), owner_id = ap::RandomUuid(), token_id = ap::RandomUuid();
    int64_t at = 1'700'000'000'000;
    auto next_chunk = [&] {
      for (auto& r : rows) {
        r = {};
        r.at = at++;
        r.grant_id = grant_id;
        r.app_name = "bench";
        r.owner_id = owner_id;
        r.provider = "openai";
        r.model = "gpt-4o-mini";
        r.capability = "chat";
        r.status = 200;
        r.input_tokens = 25;
        r.output_tokens = 120;
        r.cost_micros = 76;
        r.latency_ms = 1;
        r.token_id = token_id;
        r.token_issued_at = 1'700'000'000;
        r.token_expires_at = 1'700'003'600;
      }
    };
    for (int k = 0; k < 40; ++k) {  // 10,000 rows there first
      next_chunk();
      (void)store->Activity().AddActivity(rows);
    }
    for (auto _ : state) {
      state.PauseTiming();
      next_chunk();
      state.ResumeTiming();
      if (auto added = store->Activity().AddActivity(rows); !added) state.SkipWithError(added.error().message.c_str());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kChunk));
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ActivityRows)->Unit(benchmark::kMicrosecond);

// An OpenAI answer's head as the mock sends it (the fields OpenAI documents), read keeping the
// four fields the relay passes on: with AnswerReader, and with Beast's parser as the client did.
constexpr std::string_view kAnswerHead =
    "HTTP/1.1 200 OK\r\nServer: aipassport-mock\r\nContent-Type: application/json\r\n"
    "x-request-id: req_3f9a1c2b7d4e\r\nopenai-organization: user-mock\r\nopenai-processing-ms: 212\r\n"
    "openai-version: 2020-10-01\r\nx-ratelimit-limit-requests: 10000\r\nx-ratelimit-limit-tokens: 30000000\r\n"
    "x-ratelimit-remaining-requests: 9999\r\nx-ratelimit-remaining-tokens: 29999980\r\n"
    "x-ratelimit-reset-requests: 6ms\r\nx-ratelimit-reset-tokens: 0s\r\nContent-Length: 585\r\n\r\n";
const ap::http::FieldName kPassedOn[] = {ap::http::FieldName("content-type"), ap::http::FieldName("retry-after"),
                                         ap::http::FieldName("request-id"), ap::http::FieldName("x-request-id")};

void BM_AnswerHead_Reader(benchmark::State& state) {
  // As the client reads it: the body's first bytes came with the head.
  const std::string bytes = std::string(kAnswerHead) + std::string(585, 'x');
  for (auto _ : state) {
    ap::http::AnswerReader reader(kPassedOn, false);
    if (reader.ReadHead(bytes) != kAnswerHead.size()) state.SkipWithError("the head was refused");
    benchmark::DoNotOptimize(reader.Head());
  }
}
BENCHMARK(BM_AnswerHead_Reader);

void BM_AnswerHead_Beast(benchmark::State& state) {
  namespace bhttp = boost::beast::http;
  // The client's parser before AnswerReader: Beast's, keeping only the fields named.
  class Parser : public bhttp::response_parser<bhttp::buffer_body> {
    void on_field_impl(bhttp::field name, boost::beast::string_view text, boost::beast::string_view value,
                       boost::beast::error_code&) override {
      for (const auto& read : kPassedOn)
        if (read.Names(name, text)) return get().insert(name, text, value);
    }
  };
  for (auto _ : state) {
    Parser parser;
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(kAnswerHead.data(), kAnswerHead.size()), ec);
    if (ec || !parser.is_header_done()) state.SkipWithError("the head was refused");
    benchmark::DoNotOptimize(parser.get());
  }
}
BENCHMARK(BM_AnswerHead_Beast);

// Request bodies: a short chat call; a long conversation (the common case for agents); a stream
// that needs stream_options added.
std::string Body(int64_t kind) {
  if (kind == 0) return std::string(kChat);
  std::string body = R"({"model":"gpt-4o-mini","messages":[)";
  for (int i = 0; i < 40; ++i) {
    if (i) body += ',';
    body += R"({"role":"user","content":"Tell me more about the paragraph \"above\", with the names kept, )"
            R"(and add a note on what changed since the last message; keep it under two hundred words please."},)";
    body += R"({"role":"assistant","content":[{"type":"text","text":"Here is a summary that keeps the names: )"
            R"(Ada, Grace and Barbara met in 1843 and wrote about engines, compilers and abstractions."}]})";
  }
  body += R"(],"max_tokens":1024,"temperature":0.7,"tools":[{"type":"function","function":{"name":"lookup",)"
          R"("parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}])";
  body += kind == 2 ? R"(,"stream":true})" : "}";
  return body;
}

// /proxy/chat's reading of a body alone: the short call, and the long conversation.
void BM_ChatRead(benchmark::State& state) {
  std::string body = Body(state.range(0));
  for (auto _ : state) {
    ap::proxy::ChatRequest request;
    if (!request.Read(body)) {
      state.SkipWithError("the body was refused");
      break;
    }
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ChatRead)->ArgName("short0_long1")->DenseRange(0, 1);

// The body read as before: a whole value, read, changed and written again where usage is asked for.
std::string OldReadJsonCall(const ap::proxy::NativeEndpoint& ep, std::string body) {
  namespace json = boost::json;
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) return {};
  json::object& o = value.get_object();
  std::string model;
  if (const json::value* m = o.if_contains("model"); m && m->is_string()) model = m->get_string();
  auto asked = ap::proxy::ReadRequestedUse(ep.wire, ep.capability, o, true);
  if (!asked) return {};
  const json::value* stream = o.if_contains("stream");
  bool streams = stream && stream->is_bool() && stream->get_bool();
  bool strip = false;
  if (streams) {
    json::value& options = o["stream_options"];
    if (!options.is_object()) options = json::object();
    json::value& include = options.get_object()["include_usage"];
    strip = !(include.is_bool() && include.get_bool());
    if (strip) include = true;
  }
  return asked->body_changed || strip ? json::serialize(value) : std::move(body);
}

void BM_BodyScan_Dom(benchmark::State& state) {
  std::string body = Body(state.range(0));
  if (OldReadJsonCall(ap::proxy::OpenAIChatCompletions(), body).empty()) state.SkipWithError("the body was refused");
  for (auto _ : state) benchmark::DoNotOptimize(OldReadJsonCall(ap::proxy::OpenAIChatCompletions(), body));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_BodyScan_Dom)->ArgName("short0_long1_stream2")->DenseRange(0, 2);

void BM_BodyScan(benchmark::State& state) {
  std::string body = Body(state.range(0));
  if (!ap::proxy::ReadJsonCall(ap::proxy::OpenAIChatCompletions(), body, true))
    state.SkipWithError("the body was refused");
  for (auto _ : state)
    benchmark::DoNotOptimize(ap::proxy::ReadJsonCall(ap::proxy::OpenAIChatCompletions(), body, true));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_BodyScan)->ArgName("short0_long1_stream2")->DenseRange(0, 2);

// A whole chat completion: of about 700 bytes (as the emulation answers bench/post.lua's body), of
// about 3 KB, of about 3 KB of Markdown (a line break or a quote escaped every few words), or of
// about 3 KB of Japanese (three bytes a character).
std::string WholeAnswer(int64_t kind) {
  constexpr std::string_view kTexts[] = {
      "The engines, compilers and abstractions are summarised here, names kept. ",
      "The engines, compilers and abstractions are summarised here, names kept. ",
      R"(## Engines\n\n- **Compilers** keep the \"names\" as written;\n- `abstractions` stay.\n)",
      "\u30a8\u30f3\u30b8\u30f3\u3068\u30b3\u30f3\u30d1\u30a4\u30e9\u3092\u8981\u7d04\u3057\u307e\u3057\u305f\u3002",
  };
  std::string text;
  while (text.size() < (kind == 0 ? 80 : 3000)) text += kTexts[kind];
  return R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini",)"
         R"("choices":[{"index":0,"message":{"role":"assistant","content":")" +
         text +
         R"(","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":812,)"
         R"("completion_tokens":640,"total_tokens":1452,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},)"
         R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,)"
         R"("rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_1"})";
}

// A full parse of the answer alone, with no usage read from it: what reading usage cost before it
// was read while validating.
void BM_ParseWhole_Dom(benchmark::State& state) {
  std::string answer = WholeAnswer(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(boost::json::parse(answer));
}
BENCHMARK(BM_ParseWhole_Dom)->ArgName("short0_long1_markdown2_japanese3")->DenseRange(0, 3);

void BM_UsageWhole(benchmark::State& state) {
  std::string answer = WholeAnswer(state.range(0));
  for (auto _ : state) {
    ap::proxy::Usage usage;
    ap::proxy::MergeUsageFromJson(answer, usage);
    benchmark::DoNotOptimize(usage);
  }
}
BENCHMARK(BM_UsageWhole)->ArgName("short0_long1_markdown2_japanese3")->DenseRange(0, 3);

// One stream chunk: OpenAI's (with the `"usage":null` that include_usage puts in each) and Gemini's.
constexpr std::string_view kChunks[] = {
    R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini",)"
    R"("system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" engines"},"logprobs":null,)"
    R"("finish_reason":null}],"usage":null})",
    R"({"candidates":[{"content":{"parts":[{"text":" engines, compilers"}],"role":"model"},"index":0}],)"
    R"("usageMetadata":{"promptTokenCount":812,"candidatesTokenCount":12,"totalTokenCount":824},)"
    R"("modelVersion":"gemini-2.5-flash","responseId":"abc"})"};

void BM_ParseChunk_Dom(benchmark::State& state) {
  std::string_view chunk = kChunks[state.range(0)];
  for (auto _ : state) benchmark::DoNotOptimize(boost::json::parse(chunk));
}
BENCHMARK(BM_ParseChunk_Dom)->ArgName("openai0_gemini1")->DenseRange(0, 1);

void BM_UsageChunk(benchmark::State& state) {
  std::string_view chunk = kChunks[state.range(0)];
  ap::proxy::Usage usage;
  for (auto _ : state) benchmark::DoNotOptimize(ap::proxy::MergeUsageFromChunk(chunk, usage));
  benchmark::DoNotOptimize(usage);
}
BENCHMARK(BM_UsageChunk)->ArgName("openai0_gemini1")->DenseRange(0, 1);

// A stream event's data read as the relay reads it on a grant with a budget: usage and output bytes.
void BM_StreamEventRead(benchmark::State& state) {
  std::string_view chunk = kChunks[state.range(0)];
  ap::proxy::Usage usage;
  for (auto _ : state) benchmark::DoNotOptimize(ap::proxy::ReadStreamEvent(chunk, usage, true));
  benchmark::DoNotOptimize(usage);
}
BENCHMARK(BM_StreamEventRead)->ArgName("openai0_gemini1")->DenseRange(0, 1);

// 64 OpenAI events arriving in 1 KB pieces, split and their data read (as the relay does).
std::string Stream() {
  std::string stream;
  for (int i = 0; i < 64; ++i) stream += "data: " + std::string(kChunks[0]) + "\n\n";
  return stream;
}

void BM_SseSplit_Copy(benchmark::State& state) {
  std::string stream = Stream();
  for (auto _ : state) {
    ap::proxy::SseSplitter splitter;
    for (size_t at = 0; at < stream.size(); at += 1024) {
      splitter.Feed(std::string_view(stream).substr(at, 1024));
      while (auto event = splitter.Next()) benchmark::DoNotOptimize(ap::proxy::EventData(*event));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 64);
}
BENCHMARK(BM_SseSplit_Copy);

void BM_SseSplit(benchmark::State& state) {
  std::string stream = Stream();
  std::string scratch;
  for (auto _ : state) {
    ap::proxy::SseSplitter splitter;
    for (size_t at = 0; at < stream.size(); at += 1024) {
      splitter.Feed(std::string_view(stream).substr(at, 1024));
      while (auto event = splitter.Next()) benchmark::DoNotOptimize(ap::proxy::EventData(*event, scratch));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 64);
}
BENCHMARK(BM_SseSplit);

// The broker's route table (about 90 routes); a native call's path is looked up twice (does it
// stream its body; its handler).
ap::http::Router Routes() {
  using V = ap::http::Verb;
  ap::http::Router r;
  auto noop = [](ap::http::Request&, const ap::http::PathParams&,
                 ap::http::Exchange&) -> boost::asio::awaitable<ap::http::Response> { co_return ap::http::Response{}; };
  for (const char* p : {"/.well-known/oauth-authorization-server",
                        "/oauth/authorize",
                        "/static/console.css",
                        "/",
                        "/console/activity.csv",
                        "/device",
                        "/apps",
                        "/apps/:id/edit",
                        "/login",
                        "/consent/:id",
                        "/keys",
                        "/health",
                        "/ready",
                        "/.well-known/jwks.json",
                        "/grants",
                        "/grants/:id",
                        "/grants/:id/usage",
                        "/grants/:id/events",
                        "/v1/passport",
                        "/tokens/:token/inspect",
                        "/activity",
                        "/grants/:id/activity",
                        "/audit"})
    r.Add(V::get, p, noop);
  for (const char* p : {"/oauth/token",
                        "/oauth/revoke",
                        "/oauth/register",
                        "/oauth/device_authorization",
                        "/oauth/introspect",
                        "/console/grants/:id/limits",
                        "/console/grants/:id/revoke",
                        "/console/keys",
                        "/console/keys/:id/remove",
                        "/device",
                        "/apps",
                        "/apps/:id/edit",
                        "/apps/:id/remove",
                        "/login",
                        "/waiting/deny",
                        "/logout",
                        "/consent/:id",
                        "/keys",
                        "/grant-requests",
                        "/grant-requests/deny",
                        "/grants/:id/approve",
                        "/grants/:id/deny",
                        "/grants/:id/revoke",
                        "/tokens",
                        "/proxy/chat"})
    r.Add(V::post, p, noop);
  for (const auto& ep : ap::proxy::NativeEndpoints()) {
    if (ep.wire == ap::proxy::Provider::kGoogle) continue;
    for (const char* prefix : {"/openai", "/anthropic", "/compatible"}) {
      if ((ep.wire == ap::proxy::Provider::kAnthropic) != (std::string_view(prefix) == "/anthropic")) continue;
      bool upload = ep.model_in == ap::proxy::ModelIn::kMultipart;
      r.Add(ep.method, prefix + std::string(ep.path), noop,
            upload ? ap::http::Body::kStreamed : ap::http::Body::kWhole);
    }
  }
  for (const char* version : {"v1beta", "v1"}) {
    r.Add(V::post, "/gemini/" + std::string(version) + "/models/:call", noop);
    r.Add(V::get, "/gemini/" + std::string(version) + "/models", noop);
  }
  return r;
}

void BM_RouterFind(benchmark::State& state) {
  ap::http::Router router = Routes();
  const char* path =
      state.range(0) == 0 ? "/openai/v1/chat/completions" : "/gemini/v1beta/models/gemini-2.5-flash:generateContent";
  for (auto _ : state) {
    benchmark::DoNotOptimize(router.StreamsBody(ap::http::Verb::post, path));
    benchmark::DoNotOptimize(router.Find(ap::http::Verb::post, path));
  }
}
BENCHMARK(BM_RouterFind)->ArgName("openai0_gemini1")->DenseRange(0, 1);

}  // namespace

BENCHMARK_MAIN();
