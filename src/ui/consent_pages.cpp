#include "ui/consent_pages.hpp"

#include <algorithm>
#include <charconv>

#include "api/auth.hpp"
#include "api/call_guard.hpp"
#include "api/grant_changes.hpp"
#include "api/owner_session.hpp"
#include "core/utf8.hpp"
#include "http/cookies.hpp"
#include "http/response.hpp"
#include "http/url.hpp"
#include "oauth/oauth_api.hpp"
#include "ui/format.hpp"
#include "ui/html.hpp"
#include "ui/visible_text.hpp"

namespace ap::ui {
using boost::asio::awaitable;
using http::Request;
using http::Response;
using http::StatusCode;

namespace {

constexpr int64_t kLifetimes[] = {3600, 86400, 7 * 86400, 30 * 86400};

// "1 hour", "7 days", "90 minutes"
std::string LifetimeWords(int64_t seconds) {
  auto count = [](int64_t n, const char* unit) { return std::to_string(n) + " " + unit + (n == 1 ? "" : "s"); };
  if (seconds % 86400 == 0) return count(seconds / 86400, "day");
  if (seconds % 3600 == 0) return count(seconds / 3600, "hour");
  if (seconds % 60 == 0) return count(seconds / 60, "minute");
  return count(seconds, "second");
}

// The lifetimes the owner may choose: the usual ones, or, when the app asked for one, it and the
// shorter usual ones (never longer than asked).
std::vector<int64_t> OfferedLifetimes(std::optional<int64_t> asked) {
  std::vector<int64_t> offered;
  for (int64_t l : kLifetimes)
    if (!asked || l < *asked) offered.push_back(l);
  if (asked) offered.push_back(*asked);
  return offered;
}

// Whose key the grant spends, in the provider's own name.
std::string ProviderName(const std::string& provider) {
  if (provider == "openai") return "OpenAI";
  if (provider == "anthropic") return "Anthropic";
  if (provider == "google") return "Google Gemini";
  return provider;
}

// The models a scope allows, in words: a star stands for any run of characters, and a pattern of
// stars alone for every model (an empty list, as the reference has it, too).
std::string ModelWords(const domain::Scope& scope) {
  if (scope.AllowsAnyModel()) return "any " + ProviderName(scope.provider) + " model";
  std::vector<std::string> named;
  bool stars = false;
  for (const std::string& pattern : scope.models) {
    bool star = pattern.find('*') != std::string::npos;
    stars = stars || star;
    named.push_back(star ? "any model named like " + pattern : pattern);
  }
  std::string words = domain::JoinForHumans(named);
  return stars ? words + " (* standing for anything)" : words;
}

// "may use gpt-4o-mini for chat, up to $5.00, 100 requests, 10 requests a minute": counts with
// thousands separated, as an app may ask for a trillion calls at once.
std::string InPlainWords(const domain::Scope& scope, std::optional<int64_t> lifetime) {
  std::string words = "may use " + ModelWords(scope) + " for " + domain::JoinForHumans(scope.capabilities);
  if (scope.max_budget_cents) words += ", up to " + UsdCents(*scope.max_budget_cents);
  if (scope.max_requests) words += ", " + Count(*scope.max_requests) + " requests";
  if (scope.rate_limit) words += ", " + Count(*scope.rate_limit) + " requests a minute";
  if (scope.max_tokens_per_minute) words += ", " + Count(*scope.max_tokens_per_minute) + " tokens a minute";
  if (scope.max_concurrent) words += ", " + Count(*scope.max_concurrent) + " calls at once";
  if (scope.max_delegation_depth) words += ", and hand narrower access on to its own agents";
  if (lifetime) words += ", for " + LifetimeWords(*lifetime);
  return words;
}

// What the owner sent when the form was refused, to show it again as they left it, with what was
// wrong next to its field.
struct Typed {
  const http::Form* form = nullptr;  // none: the form as the app asked
  std::string field;                 // the field at fault
  std::string message;
};

std::string FieldError(const Typed& typed, std::string_view field) {
  if (!typed.form || typed.field != field) return "";
  return "<p class=\"field-error\" id=\"" + std::string(field) + "-error\" role=\"alert\">" + Escape(typed.message) +
         "</p>";
}

std::string Checkboxes(const char* name, const std::vector<std::string>& items, const Typed& typed) {
  std::vector<std::string> ticked = typed.form ? http::FormValues(*typed.form, name) : items;
  std::string html;
  for (const auto& item : items)
    html += "<label><input type=\"checkbox\" name=\"" + std::string(name) + "\" value=\"" + Escape(item) + "\"" +
            (std::find(ticked.begin(), ticked.end(), item) != ticked.end() ? " checked" : "") + "> " +
            Escape(VisibleText(item)) + "</label>";
  return html + FieldError(typed, name);
}

// `none`: what an empty field means.
std::string LimitField(const char* name, const char* label, std::optional<int64_t> value, bool dollars,
                       const Typed& typed, const char* none = "no limit") {
  std::string shown = typed.form ? http::FormValue(*typed.form, name)
                      : !value   ? ""
                      : dollars  ? CentsField(value)
                                 : std::to_string(*value);
  bool bad = typed.form && typed.field == name;
  return "<label for=\"" + std::string(name) + "\">" + label + "</label><input id=\"" + name + "\" name=\"" + name +
         "\" inputmode=\"decimal\" value=\"" + Escape(shown) + "\" placeholder=\"" + none + "\"" +
         (bad ? " aria-invalid=\"true\" aria-describedby=\"" + std::string(name) + "-error\"" : "") + ">" +
         FieldError(typed, name);
}

// An unverified name is shown between quotation marks: one of its own, or a look-alike, would
// seem to close them, and what follows would read as the broker's words (Notes\u201D, checked by
// your operator. \u201Cx). They are shown as escapes, as VisibleText shows hidden characters.
std::string WithoutClosingQuotes(std::string name) {
  static constexpr char32_t kQuotes[] = {0x0022, 0x02BA, 0x02DD, 0x02EE,  0x05F4,  0x201C, 0x201D, 0x201E,
                                         0x201F, 0x2033, 0x2036, 0x275D,  0x275E,  0x2E42, 0x3003, 0x301D,
                                         0x301E, 0x301F, 0xFF02, 0x1F676, 0x1F677, 0x1F678};
  std::string out;
  for (size_t i = 0; i < name.size();) {
    Utf8Char c = DecodeUtf8At(name, i);
    if (c.code && std::find(std::begin(kQuotes), std::end(kQuotes), *c.code) != std::end(kQuotes))
      out += CharacterEscape(*c.code);
    else
      out.append(name, i, c.length);
    i += c.length;
  }
  return out;
}

// Who is asking, as far as anyone can tell: an app an owner added is named; any other app only
// "calls itself" its name. The domain shown large is the one nobody can make up: where the answer
// goes when it goes back to a page (an OAuth sign-in), else the home page the app names (a
// reference request, a device, which have no page to go back to). A home page is only what the
// app says of itself, so it is shown small beside a return address, with a warning when the two
// are on different domains. A device's request (which anyone may start with a public app's id) says
// whose hands the access goes to. What an app says of itself (an unverified name, a reason) is
// isolated (bdi): right-to-left letters in it cannot reorder the words around it.
std::string WhoAsks(const store::GrantRecord& r, const oauth::WaitingApp& app) {
  std::string name = VisibleText(r.app_name);
  std::string html = r.verified
                         ? "<h1>" + Escape(name) + " asks for access</h1>"
                         : "<h1><span class=\"badge\" id=\"unverified\">Unverified</span> An app that calls itself "
                           "\u201C<bdi id=\"app-name\">" +
                               Escape(WithoutClosingQuotes(name)) + "</bdi>\u201D asks for access</h1>";
  auto large = [](const ShownHost& host) {
    return "<p class=\"domain\" id=\"domain\">" + Escape(HostWords(ShowHost(host.registrable))) + "</p>";
  };
  ShownHost home = HostOfUrl(r.app_url);
  ShownHost back = app.return_origin.empty() ? ShownHost{} : HostOfUrl(app.return_origin);
  if (back.valid)
    html += "<p>Your answer goes back to</p>" + large(back) + "<p>(host <span id=\"return-host\">" +
            Escape(HostWords(back)) + "</span>)</p>";
  else if (home.valid)
    html += std::string(r.verified ? "<p>Its home page is on</p>" : "<p>It says its home page is on</p>") + large(home);
  if (!r.app_url.empty())  // an app added without one names none
    html += std::string(r.verified ? "<p>Home page: " : "<p>Home page it names: ") + "<a href=\"" + Escape(r.app_url) +
            "\" rel=\"noreferrer\">" + Escape(VisibleText(r.app_url)) + "</a> (host <span id=\"home-host\">" +
            Escape(HostWords(home)) + "</span>)</p>";
  // An answer to this computer (a native app's loopback redirect) has no domain to compare; one to
  // any other address does.
  bool loopback = back.ip && (back.ascii.starts_with("127.") || back.ascii == "::1" || back.ascii == "[::1]");
  if (back.valid && home.valid && home.registrable != back.registrable && !loopback)
    html +=
        "<p class=\"warning\" id=\"elsewhere\">Its home page is not on the domain your answer goes back to: "
        "trust the address above, not the home page.</p>";
  if (!app.metadata_host.empty()) {
    ShownHost from = HostOfUrl("https://" + app.metadata_host);
    html += "<p id=\"metadata\">It describes itself in a document on <strong id=\"metadata-host\">" +
            Escape(HostWords(from)) + (from.port.empty() ? "" : ", port " + Escape(from.port)) +
            "</strong>: whoever runs that host chose its name" +
            (app.device ? std::string(".</p>") : std::string(" and where your answer goes.</p>"));
  }
  if (!r.verified)
    html += "<p class=\"warning\">Nobody has checked this app: its name and home page are only what it says of "
            "itself.</p>";
  if (app.device)
    html += std::string(
                "<p class=\"warning\" role=\"alert\" id=\"device\">This request was started on a "
                "device; if you approve it, the access goes to that device") +
            (r.verified ? "" : ", whatever app it names") +
            ". Only continue if you started it yourself, just now, on a device you hold.</p>";
  if (!app.resources.empty()) {
    html += "<p id=\"resources\">Its tokens will work only at:</p><ul>";
    for (const auto& url : app.resources) html += "<li>" + Escape(VisibleText(url)) + "</li>";
    html += "</ul>";
  }
  if (!r.reason.empty()) html += "<p>Reason given: <em><bdi>" + Escape(VisibleText(r.reason)) + "</bdi></em></p>";
  return html;
}

// Whether the app may hand narrower access to its own agents: offered only when it asked (the owner
// narrows, never widens), ticked as asked.
std::string DelegationChoice(const domain::Scope& scope, const Typed& typed) {
  if (!scope.max_delegation_depth) return "";
  bool ticked = typed.form ? !http::FormValue(*typed.form, "may_delegate").empty() : true;
  int64_t depth = *scope.max_delegation_depth;
  return "<label><input type=\"checkbox\" id=\"may_delegate\" name=\"may_delegate\" value=\"yes\"" +
         std::string(ticked ? " checked" : "") + "> May hand narrower access to its own agents (" +
         (depth == 1 ? std::string("one level below it") : std::to_string(depth) + " levels below it") +
         "): each never more than it has, at most " + std::to_string(domain::kMaxLiveDescendants) +
         " in use at once, and what they spend, how often they call and how many calls they run at once count "
         "against this grant's limits</label>";
}

// Which of the owner's keys the grant will spend: a choice when they hold several, a warning when
// they hold none (approving then needs a key first). Empty for a server that takes no key.
struct KeyOptions {
  bool needed = true;
  std::vector<std::string> labels;
};

std::string KeyChoice(const KeyOptions& keys, const std::string& provider, const Typed& typed) {
  if (!keys.needed) return "";
  if (keys.labels.empty())
    return "<p class=\"error\" role=\"alert\" id=\"no-key\">You have no " + Escape(ProviderName(provider)) +
           " key yet, so this cannot be approved: add one first (POST /keys, or <code>aipassport vault add</code>), "
           "then reload this page.</p>";
  if (keys.labels.size() == 1)
    return "<p id=\"key\">It will spend your " + Escape(ProviderName(provider)) + " key <strong>" + Escape(keys.labels[0]) +
           "</strong>.</p><input type=\"hidden\" name=\"key_label\" value=\"" + Escape(keys.labels[0]) + "\">";
  std::string html = "<label for=\"key_label\">Spend your " + Escape(ProviderName(provider)) +
                     " key</label><select id=\"key_label\" name=\"key_label\">";
  std::string chosen = typed.form ? http::FormValue(*typed.form, "key_label") : "";
  for (const auto& label : keys.labels)
    html += "<option value=\"" + Escape(label) + "\"" + (label == chosen ? " selected" : "") + ">" + Escape(label) +
            "</option>";
  return html + "</select>";
}

// A cap the owner is offered when the app asked for no budget and no request cap, or a larger one.
constexpr int64_t kSuggestedMaxRequests = 1000;

// Whether a scope asks for no budget and no request cap worth the name: approved as asked, what it
// could spend has no bound a person would choose.
bool Unbounded(const domain::Scope& scope) {
  return !scope.max_budget_cents && (!scope.max_requests || *scope.max_requests > kSuggestedMaxRequests);
}

std::string ConsentForm(const domain::Grant& grant, const std::string& csrf, std::optional<int64_t> asked,
                        const oauth::WaitingApp& app, const KeyOptions& keys, const Typed& typed = {}) {
  const auto& r = grant.record;
  const auto& scope = grant.scope;
  bool unlimited = Unbounded(scope);
  std::string html = WhoAsks(r, app);
  html += "<p id=\"provider\">It wants to use your <strong>" + Escape(VisibleText(ProviderName(scope.provider))) +
          "</strong> key.</p>";
  html += "<p id=\"request\">It " + Escape(VisibleText(InPlainWords(scope, asked))) + ".</p>";
  if (unlimited)
    html += "<p class=\"warning\" role=\"alert\" id=\"unlimited\">It asks for no budget and " +
            (scope.max_requests ? Count(*scope.max_requests) + " requests" : std::string("no request cap")) +
            ": approved as asked, it could spend without limit. A cap of " + Count(kSuggestedMaxRequests) +
            " requests is filled in below; change it" +
            (scope.max_requests ? "" : ", or clear it to grant without one") + ".</p>";
  if (typed.form)
    html += "<p class=\"alert\" role=\"alert\" id=\"form-error\">Not approved yet: " + Escape(typed.message) +
            ". Your choices are kept below.</p>";
  html += "<form method=\"post\" action=\"/consent/" + Escape(r.id) +
          "\"><input type=\"hidden\" name=\"csrf\" value=\"" + Escape(csrf) + "\">";
  html +=
      "<fieldset><legend>Models</legend>" +
      (scope.models.empty() ? "<p>any " + Escape(scope.provider) + " model</p>" : Checkboxes("model", scope.models, typed)) +
      "</fieldset>";
  html += "<fieldset><legend>Capabilities</legend>" + Checkboxes("capability", scope.capabilities, typed) + "</fieldset>";
  html += LimitField("budget", "Budget in US dollars", scope.max_budget_cents, true, typed);
  html += LimitField("max_requests", "Requests", unlimited ? kSuggestedMaxRequests : scope.max_requests, false, typed);
  html += LimitField("rate_limit", "Requests a minute", scope.rate_limit, false, typed);
  html += LimitField("max_tokens_per_minute", "Tokens a minute", scope.max_tokens_per_minute, false, typed);
  // None: the broker's own per-grant bound (limits.max_concurrent_per_grant), not no bound.
  html += LimitField("max_concurrent", "Calls at once", scope.max_concurrent, false, typed, "the broker's default");
  html += DelegationChoice(scope, typed);
  html += KeyChoice(keys, scope.provider, typed);
  html += "<label for=\"lifetime\">For</label><select id=\"lifetime\" name=\"lifetime\">";
  std::string typed_lifetime = typed.form ? http::FormValue(*typed.form, "lifetime") : "";
  for (int64_t l : OfferedLifetimes(asked))
    html += "<option value=\"" + std::to_string(l) + "\"" +
            ((typed.form ? typed_lifetime == std::to_string(l) : asked && l == *asked) ? " selected" : "") + ">" +
            LifetimeWords(l) + "</option>";
  html += std::string("</select>") + FieldError(typed, "lifetime") +
          "<button type=\"submit\" name=\"decision\" value=\"approve\"" +
          (keys.needed && keys.labels.empty() ? " disabled" : "") +
          ">Approve</button> "
      "<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>";
  return html;
}

// A limit the owner typed: empty is none; it may only be lower than what was asked.
Result<std::optional<int64_t>> NarrowedLimit(const std::string& text, std::optional<int64_t> asked, bool dollars,
                                             const char* what) {
  if (text.empty()) {
    if (asked) return MakeError(Errc::kBadRequest, std::string(what) + " cannot be removed, only lowered");
    return std::optional<int64_t>();
  }
  std::string digits = text;
  if (dollars) {
    size_t dot = digits.find('.');
    std::string cents = dot == std::string::npos ? "00" : digits.substr(dot + 1);
    if (cents.size() == 1) cents += "0";
    digits = digits.substr(0, dot) + cents;
    if (cents.size() != 2) return MakeError(Errc::kBadRequest, std::string(what) + " must be an amount like 5.00");
  }
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range && ptr == digits.data() + digits.size() && digits[0] != '-')
    return MakeError(Errc::kBadRequest, std::string(what) + " is too large");
  if (ec != std::errc() || ptr != digits.data() + digits.size() || value < 0)
    return MakeError(Errc::kBadRequest, std::string(what) + (dollars ? " must be an amount like 5.00, at least 0"
                                                                     : " must be a whole number of at least 0"));
  if (asked && value > *asked) return MakeError(Errc::kBadRequest, std::string(what) + " can only be lowered");
  return std::optional<int64_t>(value);
}

// What the owner chose, provided it only narrows what was asked.
Error OnField(Error e, std::string field) {
  e.field_errors = {{std::move(field), e.message}};
  return e;
}

// `default_concurrent`: the calls at once of a grant that sets none (the meter's default), which
// one the app did not ask a figure for may not go beyond.
Result<domain::Scope> NarrowedScope(const domain::Scope& asked, const http::Form& form, int64_t default_concurrent) {
  domain::Scope scope = asked;
  if (!asked.models.empty()) {
    scope.models = http::FormValues(form, "model");
    if (scope.models.empty())
      return OnField(MakeError(Errc::kBadRequest, "Keep at least one model, or deny the request"), "model");
    for (const auto& m : scope.models)
      if (std::find(asked.models.begin(), asked.models.end(), m) == asked.models.end())
        return MakeError(Errc::kBadRequest, "'" + m + "' was not asked for");
  }
  scope.capabilities = http::FormValues(form, "capability");
  if (scope.capabilities.empty())
    return OnField(MakeError(Errc::kBadRequest, "Keep at least one capability, or deny the request"), "capability");
  for (const auto& c : scope.capabilities)
    if (std::find(asked.capabilities.begin(), asked.capabilities.end(), c) == asked.capabilities.end())
      return MakeError(Errc::kBadRequest, "'" + c + "' was not asked for");
  auto budget = NarrowedLimit(http::FormValue(form, "budget"), asked.max_budget_cents, true, "The budget");
  if (!budget) return OnField(budget.error(), "budget");
  auto requests = NarrowedLimit(http::FormValue(form, "max_requests"), asked.max_requests, false, "Requests");
  if (!requests) return OnField(requests.error(), "max_requests");
  auto rate = NarrowedLimit(http::FormValue(form, "rate_limit"), asked.rate_limit, false, "Requests a minute");
  if (!rate) return OnField(rate.error(), "rate_limit");
  auto tokens = NarrowedLimit(http::FormValue(form, "max_tokens_per_minute"), asked.max_tokens_per_minute, false,
                              "Tokens a minute");
  if (!tokens) return OnField(tokens.error(), "max_tokens_per_minute");
  if (*tokens == 0)
    return OnField(MakeError(Errc::kBadRequest, "At least 1 token a minute, or empty for no limit"),
                   "max_tokens_per_minute");
  if (*rate == 0)
    return OnField(MakeError(Errc::kBadRequest, "At least 1 a minute, or empty for no limit"), "rate_limit");
  std::string concurrent_text = http::FormValue(form, "max_concurrent");
  auto concurrent =
      concurrent_text.empty() && !asked.max_concurrent
          ? Result<std::optional<int64_t>>(std::nullopt)
          : NarrowedLimit(concurrent_text, asked.max_concurrent.value_or(default_concurrent), false, "Calls at once");
  if (!concurrent) return OnField(concurrent.error(), "max_concurrent");
  if (*concurrent == 0)
    return OnField(MakeError(Errc::kBadRequest, "At least 1 call at once, or empty for the broker's default"),
                   "max_concurrent");
  scope.max_budget_cents = *budget;
  scope.max_requests = *requests;
  scope.rate_limit = *rate;
  scope.max_tokens_per_minute = *tokens;
  scope.max_concurrent = *concurrent;
  if (http::FormValue(form, "may_delegate").empty()) scope.max_delegation_depth = std::nullopt;
  return scope;
}

Result<int64_t> ChosenLifetime(const http::Form& form, std::optional<int64_t> asked) {
  std::string text = http::FormValue(form, "lifetime");
  for (int64_t l : OfferedLifetimes(asked))
    if (text == std::to_string(l)) return l;
  return OnField(MakeError(Errc::kBadRequest, "Choose one of the offered lifetimes"), "lifetime");
}

Response Problem(StatusCode status, const std::string& message) {
  return Page(
      status, "Not done",
      "<p class=\"error\" role=\"alert\">" + Escape(message) + "</p><p><a href=\"/\">Back to your grants</a></p>");
}

class ConsentPages {
 public:
  explicit ConsentPages(api::BrokerContext& ctx) : ctx_(ctx) {}

  awaitable<Response> Show(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInFirst(req, api::SessionCookieName(ctx_), "/consent/" + id);
    auto grant = co_await Pending(id, *signed_in);
    if (!grant) co_return Problem(StatusCode::not_found, http::ShownMessage(grant.error()));
    if (auto lapsed = co_await api::NobodyWaits(ctx_, grant->record); lapsed && *lapsed)
      co_return Problem(StatusCode::gone, api::kNobodyWaits);
    auto waiting = co_await oauth::FindWaitingApp(ctx_, id);
    if (!waiting) co_return Problem(StatusCode::service_unavailable, http::ShownMessage(waiting.error()));
    const oauth::WaitingApp& app = *waiting;
    co_return ConsentPage(StatusCode::ok, "Review a request",
                          ConsentForm(*grant, signed_in->session.csrf_token, app.lifetime_seconds, app,
                                      KeysOf(*signed_in, grant->scope.provider)),
                          app.return_origin);
  }

  awaitable<Response> Decide(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInFirst(req, api::SessionCookieName(ctx_), "/consent/" + id);
    auto form = http::ParseForm(req.body());
    if (!form || !api::FormCarriesCsrf(*form, *signed_in))
      co_return Problem(StatusCode::forbidden, "This form did not come from your page; nothing was changed.");
    api::Caller caller{signed_in->owner};
    std::string decision = http::FormValue(*form, "decision");
    if (decision == "revoke") {
      auto revoked = co_await api::ChangeGrant(ctx_, id, caller, api::Revoke());
      if (!revoked) co_return Problem(StatusCode::not_found, "There is no such grant.");
      co_return SeeOther("/");
    }
    auto grant = co_await Pending(id, *signed_in);
    if (!grant) co_return Problem(StatusCode::not_found, http::ShownMessage(grant.error()));
    if (decision == "deny") {
      auto denied = co_await api::ChangeGrant(ctx_, id, caller, api::Deny());
      if (!denied) co_return Problem(StatusCode::conflict, http::ShownMessage(denied.error()));
      co_return co_await BackToApp(id, false);
    }
    if (decision != "approve") co_return Problem(StatusCode::bad_request, "Approve or deny");
    auto scope = NarrowedScope(grant->scope, *form, ctx_.meter.DefaultMaxConcurrent());
    if (auto lapsed = co_await api::NobodyWaits(ctx_, grant->record); lapsed && *lapsed)
      co_return Problem(StatusCode::gone, api::kNobodyWaits);
    auto waiting = co_await oauth::FindWaitingApp(ctx_, id);
    if (!waiting) co_return Problem(StatusCode::service_unavailable, http::ShownMessage(waiting.error()));
    const oauth::WaitingApp& app = *waiting;
    auto lifetime = ChosenLifetime(*form, app.lifetime_seconds);
    if (!scope || !lifetime) {
      // The form again as the owner left it, with what is wrong next to its field.
      Error e = !scope ? scope.error() : lifetime.error();
      Typed typed{&*form, e.field_errors.empty() ? "" : e.field_errors.front().field, e.message};
      co_return ConsentPage(StatusCode::bad_request, "Review a request",
                            ConsentForm(*grant, signed_in->session.csrf_token, app.lifetime_seconds, app,
                                        KeysOf(*signed_in, grant->scope.provider), typed),
                            app.return_origin);
    }
    std::string owner_id = api::ActingOwner(ctx_, caller);
    auto approve = api::Approve(ctx_, owner_id, http::FormValue(*form, "key_label"), *lifetime, *scope);
    auto approved = co_await api::ChangeGrant(ctx_, id, caller, approve);
    if (!approved) co_return Problem(StatusCode::conflict, http::ShownMessage(approved.error()));
    co_return co_await BackToApp(id, true);
  }

 private:
  // To the app that asked through OAuth, with its code or refusal; to the owner's list otherwise.
  awaitable<Response> BackToApp(const std::string& id, bool approved) {
    auto redirect = co_await oauth::FinishAuthorization(ctx_, id, approved);
    co_return SeeOther(redirect ? *redirect : "/");
  }

  KeyOptions KeysOf(const api::SignedIn& signed_in, const std::string& provider) {
    const proxy::ProviderEndpoint* endpoint = ctx_.upstream.Table().Find(provider);
    if (endpoint && endpoint->keyless) return KeyOptions{false, {}};
    std::string owner = api::ActingOwner(ctx_, api::Caller{signed_in.owner});
    return KeyOptions{true, ctx_.vault.Labels(owner, provider)};
  }

  awaitable<Result<domain::Grant>> Pending(const std::string& id, const api::SignedIn& signed_in) {
    auto grant = co_await api::LoadGrant(ctx_, id);
    api::Caller caller{signed_in.owner};
    if (!grant || !api::MayManage(caller, grant->record))
      co_return MakeError(Errc::kNotFound, "There is no such request.");
    if (domain::EffectiveStatus(grant->record, ctx_.clock()) != store::GrantStatus::kPending)
      co_return MakeError(Errc::kNotFound, "This request was already decided, or has lapsed.");
    co_return std::move(*grant);
  }

  api::BrokerContext& ctx_;
};

}  // namespace

void AddConsentPages(http::Router& router, api::BrokerContext& ctx) {
  auto pages = std::make_shared<ConsentPages>(ctx);
  router.Add(http::Verb::get, "/consent/:id", http::BindMethod<&ConsentPages::Show>(pages));
  router.Add(http::Verb::post, "/consent/:id", api::SameOriginOnly(ctx, http::BindMethod<&ConsentPages::Decide>(pages)));
}

}  // namespace ap::ui
