#include "ui/device_pages.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cctype>

#include "api/audit_events.hpp"
#include "api/auth.hpp"
#include "api/owner_session.hpp"
#include "api/shared_checks.hpp"
#include "crypto/hash.hpp"
#include "domain/grant.hpp"
#include "http/cookies.hpp"
#include "http/response.hpp"
#include "oauth/client_metadata.hpp"
#include "ui/html.hpp"

namespace ap::ui {
using boost::asio::awaitable;
using http::Request;
using http::Response;
using http::StatusCode;
namespace bhttp = http::bhttp;

namespace {

// "bcdf-ghjk", "BCDF GHJK" -> "BCDFGHJK"
std::string NormalisedUserCode(std::string_view typed) {
  std::string code;
  for (char c : typed)
    if (std::isalpha(static_cast<unsigned char>(c)))
      code += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return code;
}

Response EntryPage(StatusCode status, const std::string& csrf, std::string_view code, std::string_view message) {
  std::string body = "<h1>Connect a device</h1><p>Type the code your device shows.</p>";
  if (!message.empty()) body += "<p class=\"error\" role=\"alert\">" + Escape(message) + "</p>";
  body += "<form method=\"post\" action=\"/device\"><input type=\"hidden\" name=\"csrf\" value=\"" + Escape(csrf) +
          "\"><label for=\"user_code\">Code</label><input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" "
          "value=\"" +
          Escape(code) + "\" required><button type=\"submit\">Continue</button></form>";
  return Page(status, "Connect a device", body);
}

class DevicePages {
 public:
  explicit DevicePages(api::BrokerContext& ctx) : ctx_(ctx) {}

  awaitable<Response> Show(Request& req, const http::PathParams&, http::Exchange&) {
    std::string target(req.target());
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) {
      std::string code = NormalisedUserCode(http::QueryValue(target, "user_code"));  // letters only: safe in a URL
      co_return SignInFirst(req, api::SessionCookieName(ctx_), code.empty() ? "/device" : "/device?user_code=" + code);
    }
    std::string done = http::QueryValue(target, "done");
    if (done == "approved" || done == "denied")
      co_return Page(StatusCode::ok, "Done",
                     std::string("<h1>Done</h1><p>") +
                         (done == "approved" ? "The device is connected." : "The device was refused.") +
                         " You can return to it now.</p>");
    co_return EntryPage(StatusCode::ok, signed_in->session.csrf_token, http::QueryValue(target, "user_code"), "");
  }

  awaitable<Response> Enter(Request& req, const http::PathParams&, http::Exchange& exchange) {
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInFirst(req, api::SessionCookieName(ctx_), "/device");
    const std::string& csrf = signed_in->session.csrf_token;
    auto form = http::ParseForm(req.body());
    if (!form || !api::FormCarriesCsrf(*form, *signed_in))
      co_return EntryPage(StatusCode::forbidden, csrf, "", "This form did not come from your page.");
    std::string typed = http::FormValue(*form, "user_code");
    // Guesses are throttled like sign-ins: per owner and per address.
    std::string account = "device-code:" + signed_in->owner.id;
    std::string address = exchange.PeerAddress();
    UnixSeconds now = ctx_.clock();
    auto pass = ctx_.throttles.sign_ins.Enter(address);  // held until a wrong code, if it is one, is counted
    if (auto busy = api::SignInRefusal(pass.verdict, "code")) {
      Response res = EntryPage(http::StatusFor(busy->code), csrf, typed, busy->message);
      http::SetRetryAfter(res, *busy);
      co_return res;
    }
    auto verdict = co_await api::CheckSignIn(ctx_, account, address);
    if (int64_t wait = verdict.wait_seconds; wait > 0) {
      Response res = EntryPage(StatusCode::too_many_requests, csrf, typed,
                               "Too many wrong codes. Try again in " + std::to_string(wait) + " seconds.");
      res.set(bhttp::field::retry_after, std::to_string(wait));
      co_return res;
    }
    auto find = [code_hash = crypto::Sha256Hex(NormalisedUserCode(typed)), now](store::Store& s) {
      return s.Flows().FindWaitingDevice(code_hash, now);
    };
    auto found = co_await api::OnStore(ctx_, std::move(find));
    if (!found) co_return EntryPage(StatusCode::service_unavailable, csrf, typed, "Please try again.");
    if (!*found) {
      co_await api::CountSignInFailure(ctx_, account, address);
      co_return EntryPage(StatusCode::not_found, csrf, typed, "That code is unknown or has expired.");
    }
    const store::DeviceAuthorizationRecord& device = **found;
    // A described app's document may be refused now.
    auto client = co_await oauth::FindClient(ctx_, device.client_id, exchange.PeerAddress());
    // Not why: that would quote the document, whose author would then write on this page.
    if (!client && client.error().code != Errc::kNotFound) {
      spdlog::info("a device code's app could not be read: {}", client.error().message);
      bool now = client.error().code == Errc::kUnavailable;
      co_return EntryPage(now ? StatusCode::service_unavailable : StatusCode::bad_request, csrf, typed,
                          now ? "The description the app that asked gives of itself could not be fetched just now: "
                                "nothing was granted yet. Try again in a moment."
                              : "The description the app that asked gives of itself could not be read: nothing was "
                                "granted.");
    }
    auto scope = domain::ParseScopeText(device.scope_json);
    if (!client || !scope)
      co_return EntryPage(StatusCode::not_found, csrf, typed, "That code is unknown or has expired.");
    if (!client->device_grant)  // allowed when the device asked, not since: its polls are refused too
      co_return EntryPage(StatusCode::forbidden, csrf, typed,
                          "The app that asked may no longer use device codes: nothing was granted.");
    auto fresh = domain::MakeGrantRequest(client->name, client->home_url, device.reason, *scope, "", now);
    // Anyone may start a device's request with a public app's id: only an app that proved itself
    // with its secret is the app it names.
    fresh.grant.verified = oauth::VouchedFor(*client, signed_in->owner.id) && client->confidential;
    fresh.grant.owner_id = signed_in->owner.id;  // the person who typed the code decides it, nobody else
    fresh.grant.client_id = client->id;
    // The code is claimed first, atomically: of two brokers given it at once, one makes the request.
    auto insert = [fresh, code = device.device_code_hash, now](store::Store& s) -> Result<bool> {
      auto attached = s.Flows().AttachDeviceGrant(code, fresh.grant.id, now);
      if (!attached || !*attached) return attached;
      if (auto created = s.Grants().CreateGrantRequest(fresh.request, fresh.grant); !created) {
        s.Flows().DetachDeviceGrant(code, fresh.grant.id);
        return created.error();
      }
      return true;
    };
    auto created = co_await api::OnStore(ctx_, std::move(insert));
    if (!created) co_return EntryPage(StatusCode::service_unavailable, csrf, typed, "Please try again.");
    if (!*created) co_return EntryPage(StatusCode::not_found, csrf, typed, "That code is unknown or has expired.");
    record::AuditEvent requested =
        api::GrantEvent(api::audit_kind::kGrantRequested, "app:" + client->id, fresh.grant,
                        boost::json::object{{"clientId", client->id}, {"flow", "device"}});
    requested.owner_id = signed_in->owner.id;  // the person who typed the code
    ctx_.audit.Record(std::move(requested));
    co_return SeeOther("/consent/" + fresh.grant.id);
  }

 private:
  api::BrokerContext& ctx_;
};

}  // namespace

void AddDevicePages(http::Router& router, api::BrokerContext& ctx) {
  auto pages = std::make_shared<DevicePages>(ctx);
  router.Add(http::Verb::get, "/device", http::BindMethod<&DevicePages::Show>(pages));
  router.Add(http::Verb::post, "/device", api::SameOriginOnly(ctx, http::BindMethod<&DevicePages::Enter>(pages)));
}

}  // namespace ap::ui
