// Micro-benchmarks of the per-call work on the hot path that does not touch a socket.
#include <benchmark/benchmark.h>

#include "core/ids.hpp"
#include "domain/token_service.hpp"
#include "proxy/key_scrubber.hpp"
#include "proxy/translate.hpp"

namespace {

using ap::crypto::Ed25519Key;
using ap::crypto::SigningKey;
using ap::crypto::SigningKeyRing;

std::shared_ptr<const SigningKeyRing> Ring() {
  static auto ring = std::make_shared<const SigningKeyRing>(SigningKeyRing::FromKeys({SigningKey{"k", Ed25519Key::Generate()}}));
  return ring;
}

void BM_TokenIssue(benchmark::State& state) {
  ap::domain::TokenService tokens(Ring(), {}, ap::SystemClock());
  for (auto _ : state) benchmark::DoNotOptimize(tokens.Issue("grant-id", std::nullopt));
}
BENCHMARK(BM_TokenIssue);

// A token seen before: SHA-256 and a hash-map lookup.
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

void BM_ParseChatRequest(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ap::proxy::ParseChatRequest(kChat));
}
BENCHMARK(BM_ParseChatRequest);

void BM_TranslateToAnthropic(benchmark::State& state) {
  auto request = ap::proxy::ParseChatRequest(kChat).value();
  for (auto _ : state) benchmark::DoNotOptimize(ap::proxy::BuildChatCall(ap::proxy::Provider::kAnthropic, request, kChat));
}
BENCHMARK(BM_TranslateToAnthropic);

void BM_TranslateToGemini(benchmark::State& state) {
  auto request = ap::proxy::ParseChatRequest(kChat).value();
  for (auto _ : state) benchmark::DoNotOptimize(ap::proxy::BuildChatCall(ap::proxy::Provider::kGoogle, request, kChat));
}
BENCHMARK(BM_TranslateToGemini);

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

}  // namespace

BENCHMARK_MAIN();
