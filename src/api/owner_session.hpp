#pragma once
// Who is signed in. The session id lives only in the browser's cookie (HttpOnly, SameSite=Lax,
// Secure with the __Host- prefix under HTTPS); the store keeps its SHA-256. A session ends after
// kIdleSeconds without a request or kAbsoluteSeconds after sign-in, whichever comes first.

#include <boost/asio/awaitable.hpp>
#include <string>

#include "api/broker_context.hpp"
#include "http/cookies.hpp"
#include "http/message.hpp"

namespace ap::api {

inline constexpr int64_t kIdleSeconds = 30 * 60;
inline constexpr int64_t kAbsoluteSeconds = 12 * 3600;

struct SignedIn {
  store::OwnerRecord owner;
  store::SessionRecord session;
};

std::string SessionCookieName(const BrokerContext& ctx);

// Whether `session` has ended by `now`: idle too long, or signed in too long ago.
bool SessionEnded(const store::SessionRecord& session, UnixSeconds now);

// The signed-in owner of this request; kUnauthorized when there is none (or it has timed out).
boost::asio::awaitable<Result<SignedIn>> CurrentOwner(BrokerContext& ctx, const http::Request& req);

// Starts a session for `owner`, as read when its password was checked (a fresh id every time: a
// session id is never carried across a sign-in). Returns the Set-Cookie value; kUnauthorized if
// the password changed, or the owner was removed, since it was read.
boost::asio::awaitable<Result<std::string>> StartSession(BrokerContext& ctx, const store::OwnerRecord& owner);

// Whether a posted page form carries the session's CSRF token (compared in constant time).
bool FormCarriesCsrf(const http::Form& form, const SignedIn& signed_in);

boost::asio::awaitable<Status> EndSession(BrokerContext& ctx, const store::SessionRecord& session);
// A Set-Cookie value that removes the session cookie.
std::string ClearSessionCookie(const BrokerContext& ctx);

}  // namespace ap::api
