#include "ui/app_pages.hpp"

#include <boost/json.hpp>

#include "api/audit_events.hpp"
#include "api/auth.hpp"
#include "api/grant_changes.hpp"
#include "api/owner_session.hpp"
#include "http/cookies.hpp"
#include "oauth/client_registration.hpp"
#include "ui/html.hpp"
#include "ui/visible_text.hpp"

namespace ap::ui {
using boost::asio::awaitable;
using http::Request;
using http::Response;
using http::StatusCode;

namespace {

// One redirect URI a line; blank lines do not count.
std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (!line.empty()) out.emplace_back(line);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return out;
}

// Who may change `c`, as the list says it to `owner_id`: a link for their own apps, else whose it is.
std::string WhoChanges(const store::ClientRecord& c, const std::string& owner_id) {
  if (c.registered_by == owner_id) return " <a href=\"/apps/" + Escape(c.id) + "/edit\">Edit or remove</a>";
  if (!c.registered_by.empty()) return " <span class=\"muted\">another owner's</span>";
  return " <span class=\"muted\">changed by the operator</span>";
}

// Every app, with a link to change those `owner_id` registered: nobody else's.
std::string AppList(const std::vector<store::ClientRecord>& clients, const std::string& owner_id) {
  if (clients.empty()) return "<p>No apps yet.</p>";
  std::string html = "<ul id=\"apps\">";
  for (const auto& c : clients)
    html += "<li><bdi><strong>" + Escape(VisibleText(c.name)) + "</strong></bdi> <code>" + Escape(c.id) + "</code> (" +
            (c.confidential ? "confidential" : "public") + (c.dpop_required ? ", DPoP required" : "") +
            (c.device_grant ? ", device flow" : "") + (c.self_registered ? ", registered itself" : "") +
            (c.home_url.empty() ? "" : ", <bdi>" + Escape(VisibleText(c.home_url)) + "</bdi>") + ")" +
            WhoChanges(c, owner_id) + "</li>";
  return html + "</ul>";
}

// The device flow's checkbox, ticked when `on`: an app that signs in on a device without a browser
// of its own. Off by default: anyone may start the flow with an app's client_id and send the code
// to the person, who would then see that app's name.
std::string DeviceGrantBox(bool on) {
  std::string checked = on ? " checked" : "";
  return "<label><input type=\"checkbox\" id=\"device_grant\" name=\"device_grant\" value=\"yes\"" + checked +
         "> Signs in on a device without a browser (a TV, a command line): may start the device flow. Leave it "
         "off for a web app, so nobody can start that flow in its name.</label>";
}

std::string RegistrationForm(const std::string& csrf) {
  return "<h2>Register an app</h2><form method=\"post\" action=\"/apps\">"
         "<input type=\"hidden\" name=\"csrf\" value=\"" +
         Escape(csrf) +
         "\"><label for=\"name\">Name</label><input id=\"name\" name=\"name\" required maxlength=\"200\">"
         "<label for=\"home_url\">Home page</label><input id=\"home_url\" name=\"home_url\" type=\"url\">"
         "<label for=\"logo_url\">Logo</label><input id=\"logo_url\" name=\"logo_url\" type=\"url\">"
         "<label for=\"redirect_uris\">Redirect URIs, one a line (https, or http://127.0.0.1 for a native "
         "app)</label><textarea id=\"redirect_uris\" name=\"redirect_uris\" rows=\"3\" required></textarea>"
         "<label><input type=\"checkbox\" name=\"confidential\" value=\"yes\"> Confidential (it keeps a secret "
         "on a server)</label>"
         "<label><input type=\"checkbox\" name=\"dpop_required\" value=\"yes\"> Requires DPoP-bound tokens</label>" +
         DeviceGrantBox(false) + "<button type=\"submit\">Register</button></form>";
}

boost::json::array UriArray(const std::vector<std::string>& uris) {
  return boost::json::array(uris.begin(), uris.end());
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

// The edit form, holding `c`'s fields (or what was typed), then removal behind a button of its own.
std::string EditForm(const store::ClientRecord& c, const std::string& csrf, const std::string& problem) {
  std::string id = Escape(c.id);
  std::string html = "<h1>Edit <bdi>" + Escape(VisibleText(c.name)) + "</bdi></h1><p>client_id <code>" + id +
                     "</code> (" + (c.confidential ? "confidential" : "public") + ")</p>";
  if (!problem.empty()) html += "<p class=\"alert\" role=\"alert\" id=\"app-error\">Not saved: " + Escape(problem) + "</p>";
  html +=
      "<form method=\"post\" action=\"/apps/" + id +
      "/edit\" id=\"app-form\"><input type=\"hidden\" name=\"csrf\" "
      "value=\"" +
      Escape(csrf) +
      "\"><label for=\"name\">Name</label><input id=\"name\" name=\"name\" required "
      "maxlength=\"200\" value=\"" +
      Escape(c.name) +
      "\"><label for=\"home_url\">Home page</label><input "
      "id=\"home_url\" name=\"home_url\" type=\"url\" value=\"" +
      Escape(c.home_url) +
      "\"><label for=\"logo_url\">"
      "Logo</label><input id=\"logo_url\" name=\"logo_url\" type=\"url\" value=\"" +
      Escape(c.logo_url) +
      "\"><label for=\"redirect_uris\">Redirect URIs, one a line</label><textarea id=\"redirect_uris\" "
      "name=\"redirect_uris\" rows=\"3\" required>" +
      Escape(Joined(c.redirect_uris)) + "</textarea>" + DeviceGrantBox(c.device_grant) +
      "<button type=\"submit\" class=\"primary\">Save</button> <a class=\"button\" href=\"/apps\">Cancel</a></form>";
  std::string remove_button = "Remove <bdi>" + Escape(VisibleText(c.name)) + "</bdi>";
  html +=
      "<h2>Remove it</h2><p>Its sign-ins stop working, and every grant it was given is revoked at once, whoever gave "
      "it.</p>";
  html += "<form method=\"post\" action=\"/apps/" + id + "/remove\" id=\"remove-app\">";
  html += "<input type=\"hidden\" name=\"csrf\" value=\"" + Escape(csrf) + "\">";
  html += "<button type=\"submit\" class=\"danger\">" + remove_button + "</button></form>";
  return html;
}

class AppPages {
 public:
  explicit AppPages(api::BrokerContext& ctx) : ctx_(ctx) {}

  awaitable<Response> ShowEdit(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInFirst(req, api::SessionCookieName(ctx_), "/apps");
    auto client = co_await OwnApp(id, signed_in->owner.id);
    if (!client) co_return Refusal(client.error());
    co_return Page(StatusCode::ok, "Edit " + client->name, EditForm(*client, signed_in->session.csrf_token, ""));
  }

  awaitable<Response> Edit(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInFirst(req, api::SessionCookieName(ctx_), "/apps");
    const std::string& csrf = signed_in->session.csrf_token;
    auto form = http::ParseForm(req.body());
    if (!form || !api::FormCarriesCsrf(*form, *signed_in))
      co_return Forged("Not saved", "changed");
    auto client = co_await OwnApp(id, signed_in->owner.id);
    if (!client) co_return Refusal(client.error());
    store::ClientRecord typed = *client;
    typed.name = http::FormValue(*form, "name");
    typed.home_url = http::FormValue(*form, "home_url");
    typed.logo_url = http::FormValue(*form, "logo_url");
    typed.redirect_uris = Lines(http::FormValue(*form, "redirect_uris"));
    typed.device_grant = http::FormValue(*form, "device_grant") == "yes";
    // The same checks as registering it.
    oauth::ClientRequest request{typed.name, typed.redirect_uris, typed.home_url, typed.logo_url,
                                 typed.confidential, typed.dpop_required};
    auto checked = oauth::MakeClient(request, ctx_.clock());
    if (!checked)
      co_return Page(StatusCode::bad_request, "Edit " + client->name, EditForm(typed, csrf, checked.error().message));
    auto update = [typed](store::Store& s) { return s.OAuth().UpdateClient(typed); };
    if (auto saved = co_await api::OnStore(ctx_, std::move(update)); !saved)
      co_return Page(StatusCode::service_unavailable, "Not saved", "<p>The app could not be saved now.</p>");
    ctx_.audit.Record(record::AuditEvent{
        std::string(api::audit_kind::kClientChanged), "owner:" + signed_in->owner.username, signed_in->owner.id, "",
        boost::json::serialize(boost::json::object{{"clientId", typed.id},
                                                   {"name", typed.name},
                                                   {"redirectUrisBefore", UriArray(client->redirect_uris)},
                                                   {"redirectUris", UriArray(typed.redirect_uris)},
                                                   {"deviceGrantBefore", client->device_grant},
                                                   {"deviceGrant", typed.device_grant}})});
    std::string notice = "<p class=\"notice\" role=\"status\" id=\"notice\">Saved " + Escape(typed.name) + ".</p>";
    co_return co_await Listing(StatusCode::ok, notice, *signed_in);  // g++ 12: no temporaries inside co_await
  }

  awaitable<Response> Remove(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInFirst(req, api::SessionCookieName(ctx_), "/apps");
    auto form = http::ParseForm(req.body());
    if (!form || !api::FormCarriesCsrf(*form, *signed_in))
      co_return Forged("Not removed", "removed");
    if (auto client = co_await OwnApp(id, signed_in->owner.id); !client) co_return Refusal(client.error());
    // Its grants are revoked first (a failure leaves the app to be removed again), then again
    // once it is gone, for a sign-in that ended meanwhile. Each revoked is recorded, whatever stops.
    std::vector<store::GrantRecord> revoked;
    std::optional<Error> failed = co_await RevokeGrantsOf(id, revoked);
    if (!failed) {
      auto remove = [id](store::Store& s) { return s.OAuth().DeleteClient(id); };
      if (auto removed = co_await api::OnStore(ctx_, std::move(remove)); !removed) failed = removed.error();
    }
    bool was_removed = !failed;
    if (!failed) failed = co_await RevokeGrantsOf(id, revoked);
    std::string actor = "owner:" + signed_in->owner.username;
    for (const auto& g : revoked) {
      ctx_.audit.Record(api::RevokedWithClient(g, id, actor));
      if (auto grant = domain::GrantFromRecord(g)) ctx_.grants.Put(*grant);
    }
    if (was_removed)
      ctx_.audit.Record(record::AuditEvent{std::string(api::audit_kind::kClientRemoved), actor, signed_in->owner.id, "",
                                           boost::json::serialize(api::RemovedClientDetail(id, revoked))});
    if (failed) co_return Refusal(*failed);
    std::string notice =
        "<p class=\"notice\" role=\"status\" id=\"notice\">Removed." +
        (revoked.empty()       ? std::string()
         : revoked.size() == 1 ? std::string(" The grant it was given is revoked.")
                               : " The " + std::to_string(revoked.size()) + " grants it was given are revoked.") +
        "</p>";
    co_return co_await Listing(StatusCode::ok, notice, *signed_in);  // g++ 12: no temporaries inside co_await
  }

  // Revokes the grants app `id` was given, a store job a page, adding them to `revoked`; what
  // stopped it, if anything did.
  awaitable<std::optional<Error>> RevokeGrantsOf(std::string id, std::vector<store::GrantRecord>& revoked) {
    for (;;) {
      auto revoke_page = [id, now = ctx_.clock(), &meter = ctx_.meter](store::Store& s) {
        api::RevokedPage page = api::RevokeGrantsOfClient(s, id, now);
        for (const auto& g : page.grants) meter.ReturnLeasesOf(g.id);
        return page;
      };
      api::RevokedPage page = co_await api::OnStore(ctx_, std::move(revoke_page));
      revoked.insert(revoked.end(), std::make_move_iterator(page.grants.begin()),
                     std::make_move_iterator(page.grants.end()));
      if (page.error || !page.more) co_return page.error;
    }
  }

  awaitable<Response> List(Request& req, const http::PathParams&, http::Exchange&) {
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInFirst(req, api::SessionCookieName(ctx_), "/apps");
    co_return co_await Listing(StatusCode::ok, "", *signed_in);
  }

  awaitable<Response> Register(Request& req, const http::PathParams&, http::Exchange&) {
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInFirst(req, api::SessionCookieName(ctx_), "/apps");
    auto form = http::ParseForm(req.body());
    if (!form || !api::FormCarriesCsrf(*form, *signed_in))
      co_return Forged("Not registered", "registered");
    oauth::ClientRequest request{http::FormValue(*form, "name"),
                                 Lines(http::FormValue(*form, "redirect_uris")),
                                 http::FormValue(*form, "home_url"),
                                 http::FormValue(*form, "logo_url"),
                                 http::FormValue(*form, "confidential") == "yes",
                                 http::FormValue(*form, "dpop_required") == "yes"};
    request.registered_by = signed_in->owner.id;
    request.device_grant = http::FormValue(*form, "device_grant") == "yes";
    auto made = oauth::MakeClient(request, ctx_.clock());
    if (!made)
      co_return co_await Listing(
          StatusCode::bad_request,
          "<p class=\"error\" role=\"alert\">Not registered: " + Escape(made.error().message) + "</p>", *signed_in);
    auto insert = [record = made->record](store::Store& s) { return s.OAuth().CreateClient(record); };
    if (auto created = co_await api::OnStore(ctx_, std::move(insert)); !created)
      co_return Page(StatusCode::service_unavailable, "Not registered", "<p>The app could not be saved now.</p>");
    ctx_.audit.Record(record::AuditEvent{
        std::string(api::audit_kind::kClientAdded), "owner:" + signed_in->owner.username, signed_in->owner.id, "",
        boost::json::serialize(boost::json::object{
            {"clientId", made->record.id}, {"name", made->record.name}, {"deviceGrant", made->record.device_grant}})});
    std::string done = "<p role=\"status\">Registered <strong>" + Escape(made->record.name) +
                       "</strong>. Its client_id: <code id=\"client_id\">" + Escape(made->record.id) + "</code></p>";
    if (!made->secret.empty())
      done += "<p>Its client_secret, shown this once (keep it secret): <code id=\"client_secret\">" +
              Escape(made->secret) + "</code></p>";
    co_return co_await Listing(StatusCode::created, done, *signed_in);
  }

 private:
  // The app `id` if `owner_id` registered it; kForbidden for anyone else's (the operator's, another
  // owner's, a self-registered one): changing where an app's sign-ins go is for whoever vouched for it.
  awaitable<Result<store::ClientRecord>> OwnApp(std::string id, std::string owner_id) {
    auto read = [id](store::Store& s) { return s.OAuth().GetClient(id); };
    auto client = co_await api::OnStore(ctx_, std::move(read));
    if (client && client->registered_by != owner_id)
      co_return MakeError(Errc::kForbidden,
                          "Only the owner who registered this app may change or remove it here; the "
                          "operator changes or removes any app with 'aipassport client edit' or "
                          "'aipassport client remove'.");
    co_return client;
  }

  static Response Refusal(const Error& error) {
    if (error.code == Errc::kForbidden)
      return Page(StatusCode::forbidden, "Not your app",
                  "<h1>Not your app</h1><p class=\"error\" role=\"alert\" id=\"app-error\">" + Escape(error.message) +
                      "</p><p><a href=\"/apps\">Apps</a></p>");
    if (error.code != Errc::kNotFound)
      return Page(StatusCode::service_unavailable, "Error", "<p>The app cannot be read now; try again.</p>");
    return Page(StatusCode::not_found, "No such app", "<p>No such app.</p><p><a href=\"/apps\">Apps</a></p>");
  }

  // The answer to a form that did not come from the owner's page: nothing was `done`.
  static Response Forged(const std::string& title, const std::string& done) {
    return Page(StatusCode::forbidden, title,
                "<p class=\"error\" role=\"alert\">This form did not come from your page; nothing was " + done +
                    ".</p><p><a href=\"/apps\">Back</a></p>");
  }

  awaitable<Response> Listing(StatusCode status, const std::string& notice, const api::SignedIn& signed_in) {
    auto list = [](store::Store& s) { return s.OAuth().ListClients(); };
    auto clients = co_await api::OnStore(ctx_, std::move(list));
    if (!clients) co_return Page(StatusCode::service_unavailable, "Error", "<p>The apps cannot be read now.</p>");
    co_return Page(status, "Apps",
                   "<h1>Apps</h1>" + notice + AppList(*clients, signed_in.owner.id) +
                       RegistrationForm(signed_in.session.csrf_token) + "<p><a href=\"/\">Back to your grants</a></p>");
  }

  api::BrokerContext& ctx_;
};

}  // namespace

void AddAppPages(http::Router& router, api::BrokerContext& ctx) {
  auto pages = std::make_shared<AppPages>(ctx);
  router.Add(http::Verb::get, "/apps", http::BindMethod<&AppPages::List>(pages));
  router.Add(http::Verb::post, "/apps", api::SameOriginOnly(ctx, http::BindMethod<&AppPages::Register>(pages)));
  router.Add(http::Verb::get, "/apps/:id/edit", http::BindMethod<&AppPages::ShowEdit>(pages));
  router.Add(http::Verb::post, "/apps/:id/edit", api::SameOriginOnly(ctx, http::BindMethod<&AppPages::Edit>(pages)));
  router.Add(http::Verb::post, "/apps/:id/remove", api::SameOriginOnly(ctx, http::BindMethod<&AppPages::Remove>(pages)));
}

}  // namespace ap::ui
