#include "api/owner_session.hpp"

#include "core/ids.hpp"
#include "crypto/hash.hpp"
#include "http/cookies.hpp"

namespace ap::api {
using boost::asio::awaitable;

namespace {

constexpr int64_t kTouchEverySeconds = 60;  // fewer writes; idle time is kept to the minute

http::CookieOptions SessionCookie(const BrokerContext& ctx) {
  http::CookieOptions options;
  options.secure = ctx.https;
  return options;
}

}  // namespace

std::string SessionCookieName(const BrokerContext& ctx) {
  return ctx.https ? "__Host-aipassport_session" : "aipassport_session";
}

bool SessionEnded(const store::SessionRecord& session, UnixSeconds now) {
  return now - session.last_seen_at > kIdleSeconds || now - session.created_at > kAbsoluteSeconds;
}

awaitable<Result<SignedIn>> CurrentOwner(BrokerContext& ctx, const http::Request& req) {
  auto cookie = http::CookieValue(req, SessionCookieName(ctx));
  if (!cookie || cookie->empty()) co_return MakeError(Errc::kUnauthorized, "Not signed in");
  std::string id_hash = crypto::Sha256Hex(*cookie);
  UnixSeconds now = ctx.clock();
  auto load = [id_hash, now](store::Store& s) -> Result<SignedIn> {
    auto session = s.Identity().GetSession(id_hash);
    if (!session) return MakeError(Errc::kUnauthorized, "Not signed in");
    if (SessionEnded(*session, now)) {
      s.Identity().DeleteSession(id_hash);
      return MakeError(Errc::kUnauthorized, "Your session has ended; sign in again");
    }
    auto owner = s.Identity().GetOwner(session->owner_id);
    if (!owner || owner->password_hash.empty()) return MakeError(Errc::kUnauthorized, "Not signed in");  // removed
    if (now - session->last_seen_at >= kTouchEverySeconds) {
      if (auto touched = s.Identity().TouchSession(id_hash, now); !touched) return touched.error();
      session->last_seen_at = now;
    }
    return SignedIn{std::move(*owner), std::move(*session)};
  };
  co_return co_await OnStore(ctx, std::move(load));
}

awaitable<Result<std::string>> StartSession(BrokerContext& ctx, const store::OwnerRecord& owner) {
  std::string id = RandomToken(32);
  UnixSeconds now = ctx.clock();
  store::SessionRecord session{crypto::Sha256Hex(id), owner.id, RandomToken(24), now, now};
  auto create = [session, hash = owner.password_hash](store::Store& s) {
    return s.Identity().CreateSession(session, hash);
  };
  if (auto created = co_await OnStore(ctx, std::move(create)); !created) co_return created.error();
  co_return http::SetCookie(SessionCookieName(ctx), id, SessionCookie(ctx));
}

awaitable<Status> EndSession(BrokerContext& ctx, const store::SessionRecord& session) {
  auto end = [id_hash = session.id_hash](store::Store& s) { return s.Identity().DeleteSession(id_hash); };
  co_return co_await OnStore(ctx, std::move(end));
}

std::string ClearSessionCookie(const BrokerContext& ctx) {
  http::CookieOptions options = SessionCookie(ctx);
  options.max_age_seconds = 0;
  return http::SetCookie(SessionCookieName(ctx), "", options);
}

bool FormCarriesCsrf(const http::Form& form, const SignedIn& signed_in) {
  return crypto::ConstantTimeEqual(http::FormValue(form, "csrf"), signed_in.session.csrf_token);
}

}  // namespace ap::api
