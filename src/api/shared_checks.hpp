#pragma once
// The checks that must hold across every broker on one database, so they go through the store (on
// the store thread, never an I/O thread): a DPoP proof's jti is accepted once by all of them, and
// failed sign-ins counted on one count on the others.

#include <boost/asio/awaitable.hpp>
#include <string>

#include "api/broker_context.hpp"
#include "domain/dpop.hpp"
#include "domain/login_throttle.hpp"

namespace ap::api {

// At most this many proofs are remembered in the store at once (see store::FlowStore::RememberProof).
inline constexpr int64_t kMaxSharedProofs = 100000;

// ctx.dpop's checks (this process's replay cache first, which refuses a local replay without a store
// trip), then the store's: the jkt of a proof no broker has accepted before. The request's views
// must outlive the call.
boost::asio::awaitable<Result<std::string>> CheckDpopProof(BrokerContext& ctx, domain::DpopRequest request);

// What a sign-in (or a typed device code) of `account` from `address` must do first, from the
// failures every broker counted. A store that cannot answer neither refuses nor slows anyone: the
// sign-in itself needs the store and fails on its own.
boost::asio::awaitable<domain::LoginThrottle::Verdict> CheckSignIn(BrokerContext& ctx, const std::string& account,
                                                                   const std::string& address);
boost::asio::awaitable<void> CountSignInFailure(BrokerContext& ctx, const std::string& account,
                                                const std::string& address);
boost::asio::awaitable<void> ForgetSignInFailures(BrokerContext& ctx, const std::string& account,
                                                  const std::string& address);

}  // namespace ap::api
