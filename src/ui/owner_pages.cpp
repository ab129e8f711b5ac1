#include "ui/owner_pages.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "api/audit_events.hpp"
#include "api/auth.hpp"
#include "api/grant_changes.hpp"
#include "api/owner_session.hpp"
#include "api/shared_checks.hpp"
#include "core/ids.hpp"
#include "crypto/hash.hpp"
#include "crypto/password.hpp"
#include "domain/grant.hpp"
#include "http/cookies.hpp"
#include "http/executor.hpp"
#include "http/response.hpp"
#include "http/url.hpp"
#include "ui/html.hpp"
#include "ui/visible_text.hpp"

namespace ap::ui {
using boost::asio::awaitable;
using http::Request;
using http::Response;
using http::StatusCode;
namespace bhttp = http::bhttp;
using api::ClearSessionCookie;
using api::CurrentOwner;
using api::EndSession;
using api::StartSession;

namespace {

constexpr std::string_view kLoginCsrfCookie = "aipassport_login_csrf";

// Where to go after signing in: a path on this site, never another site ("//evil", "/\t/evil").
std::string SafeNext(std::string_view next) { return http::IsSameOriginPath(next) ? std::string(next) : "/"; }

std::string Field(const http::Form& form, const char* name) { return http::FormValue(form, name); }

Response LoginPage(api::BrokerContext& ctx, StatusCode status, std::string_view next, std::string_view message,
                   std::string_view username = "") {
  std::string csrf = RandomToken(24);
  std::string body = "<h1>Sign in</h1>";
  if (!message.empty()) body += "<p class=\"error\" role=\"alert\">" + Escape(message) + "</p>";
  body +=
      "<form method=\"post\" action=\"/login\">"
      "<input type=\"hidden\" name=\"csrf\" value=\"" +
      csrf +
      "\">"
      "<input type=\"hidden\" name=\"next\" value=\"" +
      Escape(next) +
      "\">"
      "<label for=\"username\">Username</label>"
      "<input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"" +
      Escape(username) +
      "\">"
      "<label for=\"password\">Password</label>"
      "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>"
      "<button type=\"submit\">Sign in</button></form>";
  Response res = Page(status, "Sign in", body);
  http::CookieOptions options;
  options.secure = ctx.https;
  options.same_site = "Strict";
  options.max_age_seconds = 3600;
  res.set(bhttp::field::set_cookie, http::SetCookie(kLoginCsrfCookie, csrf, options));
  return res;
}

class OwnerPages {
 public:
  explicit OwnerPages(api::BrokerContext& ctx) : ctx_(ctx) {}

  awaitable<Response> ShowLogin(Request& req, const http::PathParams&, http::Exchange&) {
    std::string next = SafeNext(http::QueryValue(req.target(), "next"));
    // Sent here by a page that was sent two sign-in cookies: back there, it would send the browser
    // here again, so this page stays, signed in or not.
    bool conflict = http::QueryValue(req.target(), "conflict") == "1";
    auto signed_in = co_await CurrentOwner(ctx_, req);
    if (signed_in && !conflict) co_return SeeOther(next);
    // Sent here by a page whose session had ended: say so, and that signing in leads back there.
    std::string message =
        conflict ? "Your browser sent two different sign-in cookies to that page: another site on this host may have "
                   "set one. Clear this site's cookies in your browser, then sign in again."
        : http::QueryValue(req.target(), "ended") == "1"
            ? "Your session ended. Sign in again to go back to where you were."
            : "";
    co_return LoginPage(ctx_, StatusCode::ok, next, message);
  }

  awaitable<Response> Login(Request& req, const http::PathParams&, http::Exchange& exchange) {
    auto form = http::ParseForm(req.body());
    if (!form) co_return LoginPage(ctx_, StatusCode::bad_request, "/", "The form could not be read.");
    std::string next = SafeNext(Field(*form, "next"));
    std::string username = Field(*form, "username");
    auto csrf_cookie = http::CookieValue(req, kLoginCsrfCookie);
    if (!csrf_cookie || csrf_cookie->empty() || !crypto::ConstantTimeEqual(*csrf_cookie, Field(*form, "csrf")))
      co_return LoginPage(ctx_, StatusCode::forbidden, next,
                          "This form has expired or was not sent from this site. Please sign in again.", username);
    std::string address = exchange.PeerAddress();
    auto pass = ctx_.throttles.sign_ins.Enter(address);  // held until the failure, if any, is counted
    if (auto busy = api::SignInRefusal(pass.verdict, "sign-in")) co_return Busy(*busy, next, username);
    auto verdict = co_await api::CheckSignIn(ctx_, username, address);
    if (int64_t wait = verdict.wait_seconds; wait > 0) {
      Response res =
          LoginPage(ctx_, StatusCode::too_many_requests, next,
                    "Too many failed attempts. Try again in " + std::to_string(wait) + " seconds.", username);
      res.set(bhttp::field::retry_after, std::to_string(wait));
      co_return res;
    }
    if (verdict.delay_millis > 0) {  // the account is under attack: slow this address, never refuse it
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(verdict.delay_millis));
      co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    if (auto busy = api::SignInRefusal(ctx_.throttles.sign_ins.TakeCheck(pass, verdict.address_failed), "sign-in"))
      co_return Busy(*busy, next, username);
    auto owner = co_await CheckPassword(username, Field(*form, "password"));
    ctx_.throttles.sign_ins.EndCheck(pass);  // the address stays in flight until its failure is counted
    if (!owner) {
      co_await api::CountSignInFailure(ctx_, username, address);
      api::RecordSignInFailed(ctx_, username, address);
      // The name only when it is an owner's: an unknown "name" is often a password typed in the wrong field.
      if (owner.error().code == Errc::kUnauthorized)
        spdlog::info("failed sign-in for {} from {}", username, address);
      else
        spdlog::info("failed sign-in for an unknown name from {}", address);
      co_return LoginPage(ctx_, StatusCode::unauthorized, next, "Wrong username or password.", username);
    }
    co_await api::ForgetSignInFailures(ctx_, username, address);
    auto cookie = co_await StartSession(ctx_, *owner);
    if (!cookie && cookie.error().code == Errc::kUnauthorized)
      co_return LoginPage(ctx_, StatusCode::unauthorized, next, cookie.error().message, username);
    if (!cookie) co_return Page(StatusCode::service_unavailable, "Error", "<p>Signing in failed; try again.</p>");
    spdlog::info("{} signed in from {}", owner->username, address);
    api::RecordSignIn(ctx_, *owner, address);
    Response res = SeeOther(next);
    res.insert(bhttp::field::set_cookie, *cookie);
    http::CookieOptions gone;
    gone.secure = ctx_.https;
    gone.same_site = "Strict";
    gone.max_age_seconds = 0;
    res.insert(bhttp::field::set_cookie, http::SetCookie(kLoginCsrfCookie, "", gone));
    co_return res;
  }

  awaitable<Response> Logout(Request& req, const http::PathParams&, http::Exchange&) {
    auto signed_in = co_await CurrentOwner(ctx_, req);
    if (!signed_in) co_return SeeOther("/login");
    auto form = http::ParseForm(req.body());
    if (!form || !crypto::ConstantTimeEqual(Field(*form, "csrf"), signed_in->session.csrf_token))
      co_return Page(StatusCode::forbidden, "Not signed out",
                     "<p class=\"error\">This request did not come from your page; you are still signed in.</p>"
                     "<p><a href=\"/\">Back</a></p>");
    co_await EndSession(ctx_, signed_in->session);
    Response res = SeeOther("/login");
    res.set(bhttp::field::set_cookie, ClearSessionCookie(ctx_));
    co_return res;
  }

  // The home page's bulk form: deny the ticked requests, or every unverified one.
  awaitable<Response> DenyWaiting(Request& req, const http::PathParams&, http::Exchange&) {
    auto signed_in = co_await CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInFirst(req, api::SessionCookieName(ctx_), "/");
    auto form = http::ParseForm(req.body());
    if (!form || !crypto::ConstantTimeEqual(Field(*form, "csrf"), signed_in->session.csrf_token))
      co_return Page(StatusCode::forbidden, "Nothing denied",
                     "<p class=\"error\">This form did not come from your page; nothing was denied.</p>"
                     "<p><a href=\"/\">Back</a></p>");
    api::WaitingSelection selection;
    selection.all_unverified = Field(*form, "which") == "unverified";
    if (!selection.all_unverified) selection.ids = http::FormValues(*form, "id");
    api::Caller caller{signed_in->owner};  // g++ 12: no temporaries inside co_await
    auto deny = api::DenyWaiting(ctx_, std::move(caller), std::move(selection));
    auto denied = co_await std::move(deny);
    if (!denied) co_return Page(StatusCode::service_unavailable, "Error", "<p>Nothing was denied; try again.</p>");
    co_return SeeOther("/");
  }

 private:
  // The sign-in page again, saying why the gate did not let the attempt through.
  Response Busy(const Error& busy, const std::string& next, const std::string& username) {
    Response res = LoginPage(ctx_, http::StatusFor(busy.code), next, busy.message, username);
    http::SetRetryAfter(res, busy);
    return res;
  }

  // The owner if the password is theirs; kUnauthorized for a wrong password, kNotFound for an unknown
  // name (the page says the same for both). Unknown names cost as much time as wrong passwords.
  awaitable<Result<store::OwnerRecord>> CheckPassword(std::string username, std::string password) {
    auto read = [username](store::Store& s) { return s.Identity().GetOwnerByName(username); };
    auto owner = co_await api::OnStore(ctx_, std::move(read));
    std::string hash = owner ? owner->password_hash : std::string();
    auto verify = [hash, password]() {
      if (hash.empty()) {
        crypto::VerifyNothing(password);
        return false;
      }
      return crypto::VerifyPassword(hash, password);
    };
    bool ok = co_await http::RunBlocking(ctx_.work_pool, std::move(verify));
    if (!ok) co_return MakeError(owner ? Errc::kUnauthorized : Errc::kNotFound, "Wrong username or password");
    co_return std::move(*owner);
  }

  api::BrokerContext& ctx_;
};

}  // namespace

void AddOwnerPages(http::Router& router, api::BrokerContext& ctx) {
  auto pages = std::make_shared<OwnerPages>(ctx);
  router.Add(http::Verb::get, "/login", http::BindMethod<&OwnerPages::ShowLogin>(pages));
  router.Add(http::Verb::post, "/login", api::SameOriginOnly(ctx, http::BindMethod<&OwnerPages::Login>(pages)));
  router.Add(http::Verb::post, "/waiting/deny",
             api::SameOriginOnly(ctx, http::BindMethod<&OwnerPages::DenyWaiting>(pages)));
  router.Add(http::Verb::post, "/logout", api::SameOriginOnly(ctx, http::BindMethod<&OwnerPages::Logout>(pages)));
}

}  // namespace ap::ui
