#include "api/shared_checks.hpp"

#include <spdlog/spdlog.h>

namespace ap::api {
using boost::asio::awaitable;
using domain::LoginThrottle;

awaitable<Result<std::string>> CheckDpopProof(BrokerContext& ctx, domain::DpopRequest request) {
  domain::DpopReplayKey replay;
  auto jkt = ctx.dpop.Check(request, &replay);
  if (!jkt) co_return jkt.error();
  auto remember = [replay, now = ctx.clock(), &dpop = ctx.dpop](store::Store& s) {
    auto first = s.Flows().RememberProof(replay.proof_hash, replay.jkt, replay.forget_at, now, kMaxSharedProofs);
    dpop.NoteSharedProofs(s.Flows().LiveProofs());  // so that a key's share counts every broker's
    return first;
  };
  auto first = co_await OnStore(ctx, std::move(remember));
  if (!first) {
    // The store's bounds (full, or the key over its share) carry a time to try again; its failures
    // (whose text is for the log, not the app) do not.
    const Error& e = first.error();
    bool bound = (e.code == Errc::kUnavailable || e.code == Errc::kRateLimited) && e.retry_after_seconds > 0;
    if (bound && e.code == Errc::kRateLimited) ctx.dpop.HoldBack(replay.jkt, ctx.clock() + e.retry_after_seconds);
    if (bound) co_return e;
    spdlog::warn("DPoP replay check: {}", first.error().message);
    Error busy = MakeError(Errc::kUnavailable, "The DPoP replay check is unavailable; try again shortly");
    busy.retry_after_seconds = 1;
    co_return busy;
  }
  if (!*first) co_return MakeError(Errc::kUnauthorized, "Invalid DPoP proof: this proof was already used");
  co_return std::move(*jkt);
}

awaitable<LoginThrottle::Verdict> CheckSignIn(BrokerContext& ctx, const std::string& account,
                                              const std::string& address) {
  auto read = [keys = LoginThrottle::KeysFor(account, address),
               now = ctx.clock()](store::Store& s) -> Result<LoginThrottle::Verdict> {
    LoginThrottle::Failures counts[3];
    const std::string* names[] = {&keys.account, &keys.address, &keys.pair};
    for (int i = 0; i < 3; ++i) {
      auto count = s.Flows().LoginFailures(*names[i], now, LoginThrottle::kWindowSeconds);
      if (!count) return count.error();
      counts[i] = {count->count, count->last};
    }
    return LoginThrottle::Judge(counts[0], counts[1], counts[2], now);
  };
  auto verdict = co_await OnStore(ctx, std::move(read));
  if (!verdict) {
    spdlog::warn("sign-in throttle: {}", verdict.error().message);
    co_return LoginThrottle::Verdict{};
  }
  co_return *verdict;
}

awaitable<void> CountSignInFailure(BrokerContext& ctx, const std::string& account, const std::string& address) {
  auto count = [keys = LoginThrottle::KeysFor(account, address), now = ctx.clock()](store::Store& s) -> Status {
    for (const std::string* key : {&keys.account, &keys.address, &keys.pair})
      if (auto counted =
              s.Flows().CountLoginFailure(*key, now, LoginThrottle::kWindowSeconds, LoginThrottle::kMaxTracked);
          !counted)
        return counted;
    return {};
  };
  if (auto counted = co_await OnStore(ctx, std::move(count)); !counted)
    spdlog::warn("sign-in throttle: {}", counted.error().message);
}

awaitable<void> ForgetSignInFailures(BrokerContext& ctx, const std::string& account, const std::string& address) {
  auto forget = [pair = LoginThrottle::KeysFor(account, address).pair](store::Store& s) {
    return s.Flows().ForgetLoginFailures(pair);
  };
  if (auto forgotten = co_await OnStore(ctx, std::move(forget)); !forgotten)
    spdlog::warn("sign-in throttle: {}", forgotten.error().message);
}

}  // namespace ap::api
