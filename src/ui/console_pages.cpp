#include "ui/console_pages.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <map>
#include <set>
#include <vector>

#include "api/audit_events.hpp"
#include "api/auth.hpp"
#include "api/call_guard.hpp"
#include "api/grant_changes.hpp"
#include "api/key_api.hpp"
#include "api/owner_session.hpp"
#include "api/paging.hpp"
#include "core/ids.hpp"
#include "domain/grant.hpp"
#include "http/cookies.hpp"
#include "http/response.hpp"
#include "http/url.hpp"
#include "record/record_json.hpp"
#include "ui/activity_download.hpp"
#include "ui/format.hpp"
#include "ui/html.hpp"
#include "ui/svg_chart.hpp"
#include "ui/visible_text.hpp"

namespace ap::ui {
namespace json = boost::json;
using boost::asio::awaitable;
using http::Request;
using http::Response;
using http::StatusCode;
using store::GrantStatus;
namespace bhttp = http::bhttp;

namespace {

constexpr int64_t kHomePage = 100;       // grants on a page of the home page, unless ?limit= says
constexpr int64_t kMaxHomePage = 500;
constexpr int64_t kMaxUsageRows = 5000;  // day-and-model rows a grant's charts draw at most
constexpr int64_t kChartDays = 30;       // unless ?days= picks another of kChartChoices
constexpr int64_t kChartChoices[] = {14, 30, 90};
constexpr int64_t kRecentCalls = 20;     // a page of a grant's calls
constexpr int64_t kEventsPage = 20;      // a page of its events
constexpr int64_t kTokensShown = 10;     // its most recently used tokens, and its latest refresh families
constexpr int64_t kLogPage = 100;
// The activity chart names the models that cost most in its period; the others (an app can name
// any model in calls that are refused) are one stack.
constexpr int64_t kChartedModels = 10;
constexpr std::string_view kOtherModels = "(other models)";
constexpr int64_t kChildrenShown = 50;   // the grants it handed on, oldest first
constexpr int64_t kDay = 86400;

// A query value or path segment for a link; '/' is kept, as paths and `next` carry it.
std::string Percent(std::string_view text) { return http::PercentEncode(text, "/"); }

std::string ProviderName(std::string_view provider) {
  if (provider == "openai") return "OpenAI";
  if (provider == "anthropic") return "Anthropic";
  if (provider == "google") return "Google Gemini";
  return std::string(provider);
}

std::string Hidden(const std::string& csrf) {
  return "<input type=\"hidden\" name=\"csrf\" value=\"" + Escape(csrf) + "\">";
}

std::string Nav(const std::string& csrf, std::string_view current) {
  auto link = [current](std::string_view href, std::string_view text) {
    return "<a href=\"" + std::string(href) + "\"" + (href == current ? " aria-current=\"page\"" : "") + ">" +
           std::string(text) + "</a>";
  };
  return "<nav class=\"top\"><a class=\"brand\" href=\"/\">aipassport</a>" + link("/", "Grants") +
         link("/activity", "Activity") + link("/keys", "Keys") + link("/apps", "Apps") + link("/audit", "Audit") +
         "<form method=\"post\" action=\"/logout\">" + Hidden(csrf) +
         "<button type=\"submit\">Sign out</button></form></nav>";
}

std::string StatusBadge(GrantStatus status) {
  std::string name(store::GrantStatusName(status));
  return "<span class=\"status status-" + name + "\">" + name + "</span>";
}

std::string ModelsWords(const domain::Scope& scope) {
  return scope.models.empty() ? "any " + ProviderName(scope.provider) + " model" : domain::JoinForHumans(scope.models);
}

// "$0.42 of $5.00" with the meter, or the spend alone when there is no budget.
std::string SpendOfBudget(const store::GrantRecord& r) {
  int64_t spent = r.spent_micros + r.lost_micros;
  if (!r.budget_micros) return "<span class=\"spent\">" + Escape(Usd(spent)) + "</span> spent, no budget";
  double fraction = *r.budget_micros > 0 ? std::min(1.0, static_cast<double>(spent) / *r.budget_micros) : 1.0;
  char value[32];
  std::snprintf(value, sizeof value, "%.4f", fraction);
  return "<meter class=\"budget\" min=\"0\" max=\"1\" low=\"0.5\" high=\"0.8\" optimum=\"0\" value=\"" +
         std::string(value) + "\" aria-label=\"Budget used\"></meter>" +
         "<span class=\"spent\">" + Escape(Usd(spent)) + " of " + Escape(Usd(*r.budget_micros)) + "</span>";
}

std::string RequestsOfCap(const store::GrantRecord& r) {
  int64_t used = r.usage_count + r.lost_requests;
  if (!r.max_requests) return Counted(used, "request");
  return Count(used) + " of " + Counted(*r.max_requests, "request");
}

std::string RateWords(const domain::Scope& s) {
  std::vector<std::string> parts;
  if (s.rate_limit) parts.push_back(Count(*s.rate_limit) + " requests a minute");
  if (s.max_tokens_per_minute) parts.push_back(Count(*s.max_tokens_per_minute) + " tokens a minute");
  if (s.max_concurrent) parts.push_back(Count(*s.max_concurrent) + " at once");
  return domain::JoinForHumans(parts);
}

std::string HostOf(const std::string& url) {
  ShownHost host = HostOfUrl(url);
  return host.valid ? HostWords(host) : "";
}

// A link to another grant of the same tree, saying what it may do: "gpt-4o-mini for chat".
std::string GrantLink(const store::GrantRecord& g, std::string_view html_id = {}) {
  auto scope = domain::ParseScopeText(g.scope_json);
  std::string what = scope ? ModelsWords(*scope) + " for " + domain::JoinForHumans(scope->capabilities) : g.id;
  std::string attr = html_id.empty() ? "" : " id=\"" + std::string(html_id) + "\"";
  return "<a href=\"/grants/" + Percent(g.id) + "\"" + attr + ">" + Escape(VisibleText(what)) + "</a>";
}

std::string DelegationWords(const domain::Scope& s) {
  if (!s.max_delegation_depth) return "";
  int64_t depth = *s.max_delegation_depth;
  return "may hand narrower access to its own agents, " +
         (depth == 1 ? std::string("one level below it") : std::to_string(depth) + " levels below it");
}

// The grants this one handed on (delegation): what each may do, its status and its spend.
std::string ChildrenList(const std::vector<store::GrantRecord>& children, bool cut, UnixSeconds now) {
  if (children.empty()) return "";
  std::string html = "<h2>Handed on to its agents</h2><p>What these spend counts against this grant too; revoking "
                     "this grant revokes them all.</p><ul id=\"children\">";
  for (const auto& child : children)
    html += "<li>" + GrantLink(child) + " " + StatusBadge(domain::EffectiveStatus(child, now)) + " " +
            SpendOfBudget(child) + "</li>";
  html += "</ul>";
  if (cut) html += "<p>Only the first " + std::to_string(kChildrenShown) + " are shown; GET /grants/:id lists them all.</p>";
  return html;
}

// When and why a grant stopped.
std::pair<std::optional<UnixSeconds>, std::string> Ending(const store::GrantRecord& r, GrantStatus status) {
  switch (status) {
    case GrantStatus::kRevoked:
      return {r.revoked_at, "revoked"};
    case GrantStatus::kDenied:
      return {r.denied_at, "denied"};
    case GrantStatus::kExpired:
      return {r.expires_at, r.approved_at ? "expired" : "lapsed before a decision"};
    case GrantStatus::kExhausted:
      return {std::nullopt, r.budget_micros && r.spent_micros + r.lost_micros >= *r.budget_micros
                                ? "budget used up"
                                : "request cap reached"};
    default:
      return {std::nullopt, ""};
  }
}

struct FormErrors {
  std::map<std::string, std::string> by_field;
  std::string general;
  bool empty() const { return by_field.empty() && general.empty(); }
};

// A text field that shows what was typed and, next to it, what is wrong with it.
std::string TextField(const std::string& name, const std::string& label, const std::string& value,
                      const FormErrors& errors, const std::string& hint = "", const char* type = "text",
                      const char* mode = "numeric") {
  auto it = errors.by_field.find(name);
  bool bad = it != errors.by_field.end();
  std::string html = "<div class=\"field\"><label for=\"" + name + "\">" + Escape(label) + "</label><input id=\"" +
                     name + "\" name=\"" + name + "\" type=\"" + type + "\"" +
                     (mode[0] ? std::string(" inputmode=\"") + mode + "\"" : "") + " value=\"" + Escape(value) +
                     "\"" + (hint.empty() ? "" : " placeholder=\"" + Escape(hint) + "\"");
  if (bad) html += " aria-invalid=\"true\" aria-describedby=\"" + name + "-error\"";
  html += ">";
  if (bad)
    html += "<p class=\"field-error\" id=\"" + name + "-error\" role=\"alert\">" + Escape(it->second) + "</p>";
  return html + "</div>";
}

// "5", "5.5", "$5.00" as cents; empty is none.
std::optional<std::optional<int64_t>> ParseDollars(std::string text) {
  if (!text.empty() && text.front() == '$') text.erase(0, 1);
  if (text.empty()) return std::optional<int64_t>();
  size_t dot = text.find('.');
  std::string whole = text.substr(0, dot);
  std::string cents = dot == std::string::npos ? "00" : text.substr(dot + 1);
  if (cents.size() == 1) cents += "0";
  if (whole.empty()) whole = "0";
  if (cents.size() != 2) return std::nullopt;
  std::string digits = whole + cents;
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || value < 0) return std::nullopt;
  return std::optional<int64_t>(value);
}

std::optional<std::optional<int64_t>> ParseWhole(const std::string& text) {
  if (text.empty()) return std::optional<int64_t>();
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 0) return std::nullopt;
  return std::optional<int64_t>(value);
}

// The limits form's fields, as typed.
struct LimitsInput {
  std::string budget, max_requests, rate_limit, max_tokens_per_minute, max_concurrent, ends;
  // The five limits as the page first showed them (hidden fields, kept through a refused save):
  // only those typed over are written, so a limit changed elsewhere meanwhile (another tab, the
  // API) and left as shown here keeps its new value. Empty for a form that came without them
  // (every limit is written).
  std::vector<std::string> shown;

  // The five limits, in api::Limit's order.
  std::array<const std::string*, 5> Limits() const {
    return {&budget, &max_requests, &rate_limit, &max_tokens_per_minute, &max_concurrent};
  }
  // The limits typed over (bit i for Limits()[i], as api::Limit numbers them).
  api::LimitSet Changed() const {
    if (shown.size() != Limits().size()) return api::kEveryLimit;
    api::LimitSet changed = 0;
    for (size_t i = 0; i < shown.size(); ++i)
      if (*Limits()[i] != shown[i]) changed |= 1u << i;
    return changed;
  }
};
constexpr const char* kShownFields[] = {"shown_budget", "shown_max_requests", "shown_rate_limit",
                                        "shown_max_tokens_per_minute", "shown_max_concurrent"};

LimitsInput InputOf(const domain::Scope& s) {
  auto whole = [](std::optional<int64_t> v) { return v ? std::to_string(*v) : std::string(); };
  LimitsInput in{CentsField(s.max_budget_cents),
                 whole(s.max_requests),
                 whole(s.rate_limit),
                 whole(s.max_tokens_per_minute),
                 whole(s.max_concurrent),
                 "keep",
                 {}};
  for (const std::string* limit : in.Limits()) in.shown.push_back(*limit);
  return in;
}

// The choices for shortening a grant's life: those before its current end.
std::vector<std::pair<std::string, std::string>> EndChoices(const store::GrantRecord& r, UnixSeconds now) {
  std::vector<std::pair<std::string, std::string>> out{{"keep", "Keep the current end"}};
  for (int64_t s : {3600L, kDay, 7 * kDay, 30 * kDay})
    if (!r.expires_at || now + s < *r.expires_at) out.emplace_back(std::to_string(s), "End in " + Span(s));
  return out;
}

std::string LimitsForm(const domain::Grant& g, const LimitsInput& in, const FormErrors& errors, const std::string& csrf,
                       UnixSeconds now) {
  std::string html = "<form method=\"post\" action=\"/console/grants/" + Escape(g.record.id) +
                     "/limits\" id=\"limits-form\" novalidate>" + Hidden(csrf);
  for (size_t i = 0; i < in.shown.size() && i < std::size(kShownFields); ++i)
    html +=
        "<input type=\"hidden\" name=\"" + std::string(kShownFields[i]) + "\" value=\"" + Escape(in.shown[i]) + "\">";
  if (!errors.general.empty())
    html += "<p class=\"alert\" role=\"alert\">" + Escape(errors.general) + "</p>";
  else if (!errors.empty())
    html += "<p class=\"alert\" role=\"alert\">Nothing was changed: correct the fields marked below.</p>";
  html += "<div class=\"limits\">";
  html += TextField("budget", "Budget (US dollars)", in.budget, errors, "no budget", "text", "decimal");
  html += TextField("max_requests", "Requests in all", in.max_requests, errors, "no cap");
  html += TextField("rate_limit", "Requests a minute", in.rate_limit, errors, "no limit");
  html += TextField("max_tokens_per_minute", "Tokens a minute", in.max_tokens_per_minute, errors, "no limit");
  html += TextField("max_concurrent", "Calls at once", in.max_concurrent, errors, "broker default");
  html += "<div class=\"field\"><label for=\"ends\">Lifetime</label><select id=\"ends\" name=\"ends\">";
  for (const auto& [value, text] : EndChoices(g.record, now))
    html += "<option value=\"" + value + "\"" + (value == in.ends ? " selected" : "") + ">" + Escape(text) + "</option>";
  html += "</select>";
  if (auto it = errors.by_field.find("ends"); it != errors.by_field.end())
    html += "<p class=\"field-error\" role=\"alert\">" + Escape(it->second) + "</p>";
  html += "</div></div><p class=\"muted\">Leave a field empty for no limit. Raising a used-up budget or cap lets "
          "the app call again.</p><button type=\"submit\" class=\"primary\">Save limits</button></form>";
  return html;
}

// The last `count` UTC days up to `now`, oldest first.
std::vector<std::string> LastDays(UnixSeconds now, int64_t count) {
  std::vector<std::string> days;
  for (int64_t i = count - 1; i >= 0; --i) days.push_back(Day(now - i * kDay));
  return days;
}

std::vector<std::string> ShortDays(const std::vector<std::string>& days) {
  std::vector<std::string> out;
  for (const auto& d : days) out.push_back(d.size() == 10 ? d.substr(5) : d);
  return out;
}

std::string CallRows(const std::vector<store::ActivityRecord>& rows, UnixSeconds now, bool with_app) {
  if (rows.empty()) return "<p class=\"muted\">No calls yet.</p>";
  std::string html = "<div class=\"table-wrap\"><table class=\"calls stack\"><thead><tr><th>When</th>" +
                     std::string(with_app ? "<th>App</th>" : "") +
                     "<th>Model</th><th>What</th><th>Status</th><th class=\"num\">Tokens in/out</th>"
                     "<th class=\"num\">Cost</th><th class=\"num\">Time</th></tr></thead><tbody>";
  for (const auto& r : rows) {
    UnixSeconds at = r.at / 1000;
    std::string status = std::to_string(r.status);
    if (!r.refusal.empty()) status += " " + r.refusal;
    html += "<tr><td data-label=\"When\" title=\"" + Escape(FormatIso8601Millis(r.at)) + "\">" +
            Escape(Relative(at, now)) + "</td>";
    if (with_app)
      html += "<td data-label=\"App\"><a href=\"/grants/" + Escape(r.grant_id) + "\">" +
              Escape(VisibleText(r.app_name)) + "</a></td>";
    html += "<td data-label=\"Model\">" + Escape(r.model) + "</td><td data-label=\"What\">" + Escape(r.capability) +
            (r.streamed ? " (streamed)" : "") + "</td><td data-label=\"Status\">" + Escape(status) +
            "</td><td class=\"num\" data-label=\"Tokens in/out\">" + Count(r.input_tokens) + " / " +
            Count(r.output_tokens) + "</td><td class=\"num\" data-label=\"Cost\">" + Escape(Usd(r.cost_micros)) +
            "</td><td class=\"num\" data-label=\"Time\">" + Count(r.latency_ms) + " ms</td></tr>";
  }
  return html + "</tbody></table></div>";
}

// A grant's access tokens by last use, and the refresh token families its OAuth clients hold. A
// token is named by the start of its jti (an id, not the token), which no one can call with.
std::string TokenRows(const std::vector<store::TokenUseRecord>& tokens,
                      const std::vector<store::RefreshFamilyRecord>& families, UnixSeconds now) {
  auto ago = [now](UnixSeconds at) {
    return "<span title=\"" + Escape(When(at)) + "\">" + Escape(Relative(at, now)) + "</span>";
  };
  std::string html;
  if (tokens.empty()) {
    html += "<p class=\"muted\" id=\"no-tokens\">None of its access tokens has made a call yet.</p>";
  } else {
    size_t shown = std::min(tokens.size(), static_cast<size_t>(kTokensShown));
    html += "<div class=\"table-wrap\"><table class=\"stack\" id=\"tokens-table\"><thead><tr><th>Access token</th>"
            "<th>Issued</th><th>Expires</th><th>Last used</th><th class=\"num\">Calls</th></tr></thead><tbody>";
    for (size_t i = 0; i < shown; ++i) {
      const auto& t = tokens[i];
      html += "<tr><td data-label=\"Access token\"><code>" + Escape(t.token_id.substr(0, 8)) + "…</code>" +
              (t.client_id.empty() ? "" : " <span class=\"muted\">" + Escape(VisibleText(t.client_id)) + "</span>") +
              "</td><td data-label=\"Issued\">" + ago(t.issued_at) + "</td><td data-label=\"Expires\">" +
              (t.expires_at <= now ? "expired " : "") + ago(t.expires_at) + "</td><td data-label=\"Last used\">" +
              ago(t.last_used_at / 1000) + "</td><td class=\"num\" data-label=\"Calls\">" + Count(t.calls) +
              "</td></tr>";
    }
    html += "</tbody></table></div>";
    if (tokens.size() > shown)
      html += "<p class=\"muted\" id=\"tokens-cut\">The " + std::to_string(shown) +
              " most recently used are shown; older tokens are left out.</p>";
  }
  html += "<p class=\"muted\">A token's use is recorded with its calls, within a few seconds. Revoking the grant "
          "stops every one of its tokens.</p>";
  if (families.empty()) return html;
  size_t shown = std::min(families.size(), static_cast<size_t>(kTokensShown));
  html += "<div class=\"table-wrap\"><table class=\"stack\" id=\"refresh-table\"><thead><tr><th>Sign-in of app</th>"
          "<th>Since</th><th>Last refreshed</th><th class=\"num\">Refresh tokens</th><th>State</th></tr></thead><tbody>";
  for (size_t i = 0; i < shown; ++i) {
    const auto& f = families[i];
    html += "<tr><td data-label=\"Sign-in of app\">" + Escape(VisibleText(f.client_id)) + "</td><td data-label=\"Since\">" +
            ago(f.started_at) + "</td><td data-label=\"Last refreshed\">" +
            (f.last_refreshed_at ? ago(*f.last_refreshed_at) : std::string("never")) +
            "</td><td class=\"num\" data-label=\"Refresh tokens\">" + Count(f.tokens) + "</td><td data-label=\"State\">" +
            (f.revoked_at ? "ended " + ago(*f.revoked_at) : std::string("can refresh while the grant lasts")) +
            "</td></tr>";
  }
  html += "</tbody></table></div>";
  if (families.size() > shown)
    html += "<p class=\"muted\">The " + std::to_string(shown) + " latest sign-ins are shown; older ones are left out.</p>";
  return html;
}

std::string EventWords(const store::EventRecord& e) {
  boost::system::error_code ec;
  json::value detail = json::parse(e.detail, ec);
  if (e.kind == "budget_threshold" && !ec && detail.is_object()) {
    const auto& o = detail.get_object();
    std::string words = "Budget threshold crossed";
    if (const auto* p = o.if_contains("percent"); p && p->is_int64()) words = std::to_string(p->get_int64()) + "% of the budget spent";
    if (const auto* s = o.if_contains("spentMicros"); s && s->is_int64()) words += " (" + Usd(s->get_int64()) + ")";
    return words;
  }
  if (e.kind == "lease_lost") return "A stopped broker held part of the budget; it is counted as used";
  return e.kind + (ec ? "" : " " + e.detail);
}

class ConsolePages {
 public:
  explicit ConsolePages(api::BrokerContext& ctx) : ctx_(ctx) {}

  awaitable<Response> Css(Request&, const http::PathParams&, http::Exchange&) { co_return Stylesheet(); }

  awaitable<Response> Home(Request& req, const http::PathParams&, http::Exchange&) {
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, std::string(http::PathOf(req.target())) + QueryOf(req));
    api::Caller caller{signed_in->owner};
    struct Row {
      store::GrantRecord record;
      std::optional<UnixMillis> last_call;
    };
    struct Read {
      std::vector<Row> rows;
      api::PageOfRows<store::GrantCursor> page;  // the cursors of its first and last grant
    };
    auto limit = api::PageLimit(req.target(), kHomePage, kMaxHomePage);
    auto older = api::GrantCursorParam(req.target(), "older");
    auto newer = api::GrantCursorParam(req.target(), "newer");
    if (!limit || !older || !newer) {
      // A limit out of range says what it may be; a cursor that does not read was cut or changed.
      std::string why = !limit ? "its limit must be a whole number from 1 to " + std::to_string(kMaxHomePage)
                               : "it was cut or changed";
      co_return ConsolePage(StatusCode::bad_request, "Home", Nav(signed_in->session.csrf_token, "/"),
                            "<h1>Your grants</h1><p class=\"alert\" role=\"alert\">This page link is not valid (" +
                                why + "). <a href=\"/\">Show the newest grants</a>.</p>");
    }
    store::GrantQuery query;
    query.owner_id = caller.owner->id;
    query.limit = *limit + 1;
    bool toward_newer = newer->has_value();
    if (toward_newer)
      query.before = **newer;
    else
      query.after = *older;
    int64_t page_size = *limit;
    UnixSeconds now = ctx_.clock();
    // One page of grants in memory: the cursors come from the page as read, before what the owner
    // may not manage is left out.
    auto read = [caller, now, query, page_size, toward_newer](store::Store& s) -> Result<Read> {
      auto grants = s.Grants().ListGrantPage(query);
      if (!grants) return grants.error();
      auto page = api::ShapePage(std::move(*grants), page_size, toward_newer, query.after || query.before);
      Read out;
      out.page.older = page.older;
      out.page.newer = page.newer;
      if (!page.rows.empty())
        out.page.rows = {store::GrantCursor{page.rows.front().created_at, page.rows.front().id},
                         store::GrantCursor{page.rows.back().created_at, page.rows.back().id}};
      for (auto& g : page.rows) {
        if (!api::MayManage(caller, g)) continue;
        Row row{std::move(g), std::nullopt};
        if (domain::EffectiveStatus(row.record, now) == GrantStatus::kApproved) {
          store::ActivityQuery last;
          last.grant_id = row.record.id;
          last.limit = 1;
          auto calls = s.Activity().ListActivity(last);
          if (calls && !calls->empty()) row.last_call = calls->front().at;
        }
        out.rows.push_back(std::move(row));
      }
      return out;
    };
    auto got = co_await api::OnStoreRead(ctx_, std::move(read));
    if (!got) co_return Unavailable(*signed_in, "Your grants cannot be read now.");
    const auto* rows = &got->rows;
    const auto& page = got->page;
    bool paged = page.older || page.newer;
    std::string limit_param = page_size == kHomePage ? "" : "&amp;limit=" + std::to_string(page_size);
    std::string pager;
    if (page.newer && !page.rows.empty())
      pager += "<a href=\"/?newer=" + api::GrantCursorText(page.rows.front()) +
               limit_param + "\" rel=\"prev\">← Newer</a>";
    if (page.older && !page.rows.empty())
      pager += "<a href=\"/?older=" + api::GrantCursorText(page.rows.back()) +
               limit_param + "\" rel=\"next\">Older →</a>";
    if (!pager.empty()) pager = "<nav class=\"pager\" id=\"grant-pages\" aria-label=\"Pages of your grants\">" + pager + "</nav>";
    const std::string& csrf = signed_in->session.csrf_token;
    std::string waiting, active, finished;
    int finished_count = 0;
    for (const auto& row : *rows) {
      const auto& g = row.record;
      auto scope = domain::ParseScopeText(g.scope_json);
      if (!scope) continue;
      auto status = domain::EffectiveStatus(g, now);
      std::string name = Escape(VisibleText(g.app_name));
      std::string host = HostOf(g.app_url);
      if (status == GrantStatus::kPending) {
        waiting += "<li class=\"card\"><label class=\"pick\"><input type=\"checkbox\" name=\"id\" value=\"" +
                   Escape(g.id) + "\"> " +
                   (g.verified ? std::string() : "<strong class=\"unverified\">Unverified</strong> ") + name +
                   "</label>" +
                   Facts({{"Home page", host.empty() ? "" : Escape(host)},
                          {"Wants", "your " + Escape(ProviderName(scope->provider)) + " key"},
                          {"For", Escape(VisibleText(ModelsWords(*scope))) + ", " +
                                      Escape(domain::JoinForHumans(scope->capabilities))},
                          {"Limits", Escape(domain::JoinForHumans([&] {
                             std::vector<std::string> l;
                             if (scope->max_budget_cents) l.push_back(UsdCents(*scope->max_budget_cents));
                             if (scope->max_requests) l.push_back(Counted(*scope->max_requests, "request"));
                             if (std::string r = RateWords(*scope); !r.empty()) l.push_back(r);
                             return l;
                           }()))}}) +
                   "<a class=\"button\" href=\"/consent/" + Escape(g.id) + "\">Review</a></li>";
        continue;
      }
      if (status == GrantStatus::kApproved) {
        active += "<li class=\"card grant\" id=\"grant-" + Escape(g.id) + "\"><header><h3><a href=\"/grants/" +
                  Escape(g.id) + "\">" + name + "</a></h3>" + StatusBadge(status) + "</header>" +
                  Facts({{"Host", Escape(host)},
                         {"Uses", Escape(ProviderName(scope->provider)) + ": " + Escape(VisibleText(ModelsWords(*scope)))},
                         {"Spent", SpendOfBudget(g)},
                         {"Requests", Escape(RequestsOfCap(g))},
                         {"Rate", Escape(RateWords(*scope))},
                         {"Expires", g.expires_at ? "<span title=\"" + Escape(When(*g.expires_at)) + "\">" +
                                                        Escape(Relative(*g.expires_at, now)) + "</span>"
                                                  : ""},
                         {"Last used", row.last_call ? Escape(Relative(*row.last_call / 1000, now)) : "never"}}) +
                  "<a class=\"button\" href=\"/grants/" + Escape(g.id) +
                  "\">Details and limits</a> <a class=\"button danger-link\" href=\"/console/grants/" + Escape(g.id) +
                  "/revoke\">Revoke…</a></li>";
        continue;
      }
      auto [ended, why] = Ending(g, status);
      ++finished_count;
      finished += "<li><a href=\"/grants/" + Escape(g.id) + "\">" + name + "</a> " + StatusBadge(status) + " " +
                  Escape(why) + (ended ? " on " + Escape(When(*ended)) : "") + "</li>";
    }
    std::string body = "<h1>Your grants</h1><p class=\"muted\">Signed in as <strong>" +
                       Escape(signed_in->owner.username) + "</strong>.</p>";
    body += Notice(req);
    if (paged)
      body += "<p class=\"muted\" id=\"page-note\">Your grants " + Count(page_size) +
              " to a page, newest first: this page shows the waiting, active and finished ones among them.</p>";
    std::string on_page = paged ? " on this page" : "";
    body += "<h2>Waiting for you</h2>";
    if (waiting.empty())
      body += "<p class=\"muted\">No requests" + on_page + ".</p>";
    else
      body += "<form method=\"post\" action=\"/waiting/deny\" id=\"waiting-form\">" + Hidden(csrf) +
              "<ul class=\"cards\" id=\"waiting\">" + waiting +
              "</ul><button type=\"submit\" name=\"which\" value=\"selected\" class=\"secondary\">Deny selected"
              "</button> <button type=\"submit\" name=\"which\" value=\"unverified\" class=\"secondary\">Deny all "
              "unverified</button></form>";
    body += "<h2>Active</h2>";
    body += active.empty() ? "<p class=\"muted\">No active grants" + on_page + ".</p>"
                           : "<ul class=\"cards\" id=\"grants\">" + active + "</ul>";
    if (finished_count > 0)
      body += "<h2>Finished</h2><details id=\"finished\"><summary>" + Counted(finished_count, "finished grant") +
              on_page + "</summary><ul>" + finished + "</ul></details>";
    body += pager;
    co_return ConsolePage(StatusCode::ok, "Home", Nav(csrf, "/"), body);
  }

  awaitable<Response> Grant(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, "/grants/" + id);
    std::string notice = Notice(req);  // g++ 12: no temporaries inside co_await
    FormErrors none;
    GrantView view = ViewOf(req);
    co_return co_await GrantPage(*signed_in, id, StatusCode::ok, notice, nullptr, none, view);
  }

  awaitable<Response> SaveLimits(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, "/grants/" + id);
    auto form = http::ParseForm(req.body());
    if (!form || !api::FormCarriesCsrf(*form, *signed_in)) co_return Forged(*signed_in, "/grants/" + id);
    LimitsInput in{http::FormValue(*form, "budget"),
                   http::FormValue(*form, "max_requests"),
                   http::FormValue(*form, "rate_limit"),
                   http::FormValue(*form, "max_tokens_per_minute"),
                   http::FormValue(*form, "max_concurrent"),
                   http::FormValue(*form, "ends"),
                   {}};
    for (const char* name : kShownFields)  // all five or none: Changed() reads them by place
      if (form->contains(name)) in.shown.push_back(http::FormValue(*form, name));
    if (in.shown.size() != std::size(kShownFields)) in.shown.clear();
    for (std::string* field : {&in.budget, &in.max_requests, &in.rate_limit, &in.max_tokens_per_minute,
                               &in.max_concurrent}) {
      while (!field->empty() && field->back() == ' ') field->pop_back();
      while (!field->empty() && field->front() == ' ') field->erase(0, 1);
    }
    auto grant = co_await Managed(id, *signed_in);
    if (!grant) co_return NotFoundPage(*signed_in);
    UnixSeconds now = ctx_.clock();
    FormErrors errors;
    domain::Scope limits = grant->scope;
    auto budget = ParseDollars(in.budget);
    if (!budget) errors.by_field["budget"] = "Write an amount in dollars, like 5 or 12.50";
    auto whole = [&errors](const std::string& text, const char* field) {
      auto v = ParseWhole(text);
      if (!v) errors.by_field[field] = "Write a whole number (0 or more), or leave it empty for no limit";
      return v.value_or(std::nullopt);
    };
    limits.max_budget_cents = budget.value_or(std::nullopt);
    limits.max_requests = whole(in.max_requests, "max_requests");
    limits.rate_limit = whole(in.rate_limit, "rate_limit");
    limits.max_tokens_per_minute = whole(in.max_tokens_per_minute, "max_tokens_per_minute");
    limits.max_concurrent = whole(in.max_concurrent, "max_concurrent");
    if (limits.max_concurrent && *limits.max_concurrent == 0)
      errors.by_field["max_concurrent"] = "At least 1 call at once, or empty for the broker's default";
    if (limits.rate_limit && *limits.rate_limit == 0)
      errors.by_field["rate_limit"] = "At least 1 a minute, or empty for no limit";
    std::optional<UnixSeconds> ends_at;
    if (in.ends != "keep") {
      bool offered = false;
      for (const auto& [value, text] : EndChoices(grant->record, now))
        if (value == in.ends) offered = true;
      if (!offered)
        errors.by_field["ends"] = "Choose one of the offered lifetimes";
      else
        ends_at = now + std::stoll(in.ends);
    }
    if (errors.empty()) {
      // The same checks as PATCH /grants/:id: the limits must make a valid scope.
      auto checked = domain::ParseScope(json::value(domain::ScopeToJson(limits)), "scope", {limits.provider},
                                        domain::ScopeBy::kOwner);
      if (!checked) {
        Error e = checked.error();
        static const std::map<std::string, std::string> kFields{{"scope.maxBudgetCents", "budget"},
                                                                {"scope.maxRequests", "max_requests"},
                                                                {"scope.rateLimit", "rate_limit"},
                                                                {"scope.maxTokensPerMinute", "max_tokens_per_minute"},
                                                                {"scope.maxConcurrent", "max_concurrent"}};
        for (const auto& f : e.field_errors) {
          auto it = kFields.find(f.field);
          if (it != kFields.end())
            errors.by_field[it->second] = f.message;
          else
            errors.general = f.message;
        }
        if (errors.empty()) errors.general = e.message;
      }
    }
    std::string no_notice;  // g++ 12: no temporaries inside co_await
    GrantView view;
    if (!errors.empty())
      co_return co_await GrantPage(*signed_in, id, StatusCode::bad_request, no_notice, &in, errors, view);
    domain::Scope chosen = limits;
    api::GrantChange change = [chosen, changed = in.Changed(), ends_at](store::GrantRecord& g,
                                                                        UnixSeconds at) -> Status {
      if (auto set = api::SetLimits(chosen, changed)(g, at); !set) return set;
      if (ends_at) return api::EndSooner(*ends_at)(g, at);
      return {};
    };
    api::Caller caller{signed_in->owner};
    auto changed = co_await api::ChangeGrant(ctx_, id, caller, change);
    if (!changed) {
      errors.general = "Nothing was changed: " + http::ShownMessage(changed.error());
      co_return co_await GrantPage(*signed_in, id, StatusCode::conflict, no_notice, &in, errors, view);
    }
    co_return SeeOther("/grants/" + Percent(id) + "?done=limits");
  }

  awaitable<Response> ConfirmRevoke(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, "/console/grants/" + id + "/revoke");
    auto grant = co_await Managed(id, *signed_in);
    if (!grant) co_return NotFoundPage(*signed_in);
    const std::string& csrf = signed_in->session.csrf_token;
    std::string name = Escape(VisibleText(grant->record.app_name));
    std::string body = "<h1>Revoke " + name + "?</h1>";
    if (grant->record.status == GrantStatus::kRevoked) {
      body += "<p class=\"notice\" role=\"status\">This grant is already revoked.</p><p><a href=\"/grants/" +
              Escape(id) + "\">Back to the grant</a></p>";
      co_return ConsolePage(StatusCode::ok, "Revoke", Nav(csrf, ""), body);
    }
    body += "<p id=\"revoke-warning\">" + name + " will lose access to your " +
            Escape(ProviderName(grant->scope.provider)) +
            " key at once: its very next call, with any token it holds, is refused. This cannot be undone; the app "
            "would have to ask again.</p>"
            "<form method=\"post\" action=\"/console/grants/" +
            Escape(id) + "/revoke\" id=\"revoke-form\">" + Hidden(csrf) +
            "<button type=\"submit\" class=\"danger\" name=\"confirm\" value=\"yes\">Revoke now</button> "
            "<a class=\"button\" href=\"/grants/" +
            Escape(id) + "\">Cancel</a></form>";
    co_return ConsolePage(StatusCode::ok, "Revoke " + VisibleText(grant->record.app_name), Nav(csrf, ""), body);
  }

  awaitable<Response> Revoke(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, "/console/grants/" + id + "/revoke");
    auto form = http::ParseForm(req.body());
    if (!form || !api::FormCarriesCsrf(*form, *signed_in)) co_return Forged(*signed_in, "/grants/" + id);
    api::Caller caller{signed_in->owner};
    api::GrantChange revoke = api::Revoke();  // g++ 12: no temporaries inside co_await
    auto revoked = co_await api::ChangeGrant(ctx_, id, caller, revoke);
    if (!revoked) co_return NotFoundPage(*signed_in);
    co_return SeeOther("/grants/" + Percent(id) + "?done=revoked");
  }

  // The owner's activity across every app: spend over 24 hours, 7 or 30 days stacked by app or by
  // model, the top apps and models, and the call log (filtered, paged, downloadable).
  awaitable<Response> Activity(Request& req, const http::PathParams&, http::Exchange&) {
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, std::string(http::PathOf(req.target())) + QueryOf(req));
    auto filters = ReadFilters(req);
    UnixSeconds now = ctx_.clock();
    Window window = WindowOf(filters.range, now);
    store::ActivityQuery query = filters.query;
    query.owner_id = api::ActingOwner(ctx_, api::Caller{signed_in->owner});
    query.from = window.from * 1000;
    query.to = window.to * 1000;
    query.limit = kLogPage + 1;
    if (!filters.newer.empty())
      query.before = record::ParseActivityCursor(filters.newer);
    else if (!filters.cursor.empty())
      query.after = record::ParseActivityCursor(filters.cursor);
    if ((!filters.newer.empty() && !query.before) || (!filters.cursor.empty() && filters.newer.empty() && !query.after))
      filters.error = "This page link is not valid (it was cut or changed); the newest calls are shown";
    int64_t bucket = window.bucket * 1000;
    auto read = [query, bucket](store::Store& st)
        -> Result<std::pair<std::vector<store::ActivityTotal>, api::PageOfRows<store::ActivityRecord>>> {
      auto sums = st.Activity().SumActivity(query, bucket, kChartedModels);
      if (!sums) return sums.error();
      auto calls = st.Activity().ListActivity(query);
      if (!calls) return calls.error();
      auto page = api::ShapePage(std::move(*calls), kLogPage, query.before.has_value(),
                                 query.before.has_value() || query.after.has_value());
      return std::make_pair(std::move(*sums), std::move(page));
    };
    auto got = co_await api::OnStoreRead(ctx_, std::move(read));
    if (!got) co_return Unavailable(*signed_in, "The activity cannot be read now.");
    const auto& [sums, page] = *got;
    const auto& calls = page.rows;
    std::vector<std::string> columns, labels;
    for (UnixSeconds at = window.from; at < window.to; at += window.bucket) {
      columns.push_back(window.bucket == kDay ? Day(at) : When(at).substr(0, 16));
      labels.push_back(window.bucket == kDay ? Day(at).substr(5) : When(at).substr(11, 5));
    }
    auto column_of = [&](UnixMillis bucket_start) {
      size_t i = static_cast<size_t>((bucket_start / 1000 - window.from) / window.bucket);
      return i < columns.size() ? columns[i] : std::string();
    };
    std::vector<ChartValue> values;
    std::map<std::string, std::pair<int64_t, int64_t>> apps, models;  // cost, calls
    for (const auto& t : sums) {
      std::string model = t.other_models ? std::string(kOtherModels) : t.model;
      values.push_back({column_of(t.bucket), filters.by == "model" ? model : VisibleText(t.app_name), t.cost_micros});
      apps[VisibleText(t.app_name)].first += t.cost_micros;
      apps[VisibleText(t.app_name)].second += t.calls;
      models[model].first += t.cost_micros;
      models[model].second += t.calls;
    }
    ChartSpec spec{"activity-chart",
                   "Spend per " + std::string(window.bucket == kDay ? "day" : "hour") + ", by " +
                       (filters.by == "model" ? "model" : "app"),
                   "US dollars", window.bucket == kDay ? "Day (UTC)" : "Hour (UTC)", columns, labels,
                   [](int64_t v) { return Usd(v); }};
    std::string self = "/activity";
    std::string body = "<h1>Activity</h1>";
    body += "<form method=\"get\" action=\"/activity\" class=\"filters\" id=\"filters\">" +
            Select("range", "Period", filters.range, {{"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"}}) +
            Select("by", "Stack by", filters.by, {{"app", "App"}, {"model", "Model"}}) +
            "<div><label for=\"app\">App</label><input id=\"app\" name=\"app\" value=\"" + Escape(filters.app) +
            "\"></div><div><label for=\"model\">Model</label><input id=\"model\" name=\"model\" value=\"" +
            Escape(filters.model) + "\"></div><div><label for=\"status\">Status</label><input id=\"status\" "
            "name=\"status\" inputmode=\"numeric\" size=\"4\" value=\"" + Escape(filters.status) + "\"></div>" +
            (filters.grant.empty() ? "" : "<input type=\"hidden\" name=\"grant\" value=\"" + Escape(filters.grant) + "\">") +
            "<div><button type=\"submit\">Show</button></div></form>";
    if (!filters.error.empty()) body += "<p class=\"alert\" role=\"alert\">" + Escape(filters.error) + "</p>";
    body += StackedBarChart(spec, values);
    auto top = [](const std::map<std::string, std::pair<int64_t, int64_t>>& m, const char* what, const char* id) {
      std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> sorted(m.begin(), m.end());
      std::stable_sort(sorted.begin(), sorted.end(),
                       [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
      if (sorted.size() > 10) sorted.resize(10);
      std::string html = "<div><h2>Top " + std::string(what) + "s</h2>";
      if (sorted.empty()) return html + "<p class=\"muted\">None in this period.</p></div>";
      html += "<table id=\"" + std::string(id) + "\"><thead><tr><th>" + what +
              "</th><th class=\"num\">Calls</th><th class=\"num\">Spent</th></tr></thead><tbody>";
      for (const auto& [name, figures] : sorted)
        html += "<tr><td>" + Escape(name) + "</td><td class=\"num\">" + Count(figures.second) +
                "</td><td class=\"num\">" + Escape(Usd(figures.first)) + "</td></tr>";
      return html + "</tbody></table></div>";
    };
    body += "<div class=\"limits\">" + top(apps, "App", "top-apps") + top(models, "Model", "top-models") + "</div>";
    std::string filter_query = FilterQuery(filters);
    body += "<h2>Calls</h2><p>Download this period's calls: <a href=\"/console/activity.csv?" + filter_query +
            "\" download>CSV</a> · <a href=\"/console/activity.jsonl?" + filter_query + "\" download>JSON Lines</a></p>";
    body += CallRows(calls, now, true);
    std::string pager;
    if (page.newer && !calls.empty())
      pager += "<a href=\"/activity?" + filter_query + "&amp;newer=" + Percent(record::ActivityCursor(calls.front())) +
               "\" rel=\"prev\">← Newer calls</a>";
    if (page.older && !calls.empty())
      pager += "<a href=\"/activity?" + filter_query + "&amp;cursor=" + Percent(record::ActivityCursor(calls.back())) +
               "\" rel=\"next\">Older calls →</a>";
    if (!pager.empty()) body += "<nav class=\"pager\" id=\"call-pages\" aria-label=\"Pages of calls\">" + pager + "</nav>";
    co_return ConsolePage(filters.error.empty() ? StatusCode::ok : StatusCode::bad_request, "Activity",
                          Nav(signed_in->session.csrf_token, self), body);
  }

  // The period's calls, newest first, as CSV or JSON Lines, sent page by page as they are read.
  awaitable<Response> Download(Request& req, const http::PathParams&, http::Exchange& exchange) {
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, "/activity");
    bool csv = http::PathOf(req.target()).ends_with(".csv");
    auto filters = ReadFilters(req);
    // Else every call would be downloaded as if that filter were not there.
    if (!filters.error.empty())
      co_return ConsolePage(StatusCode::bad_request, "Error", Nav(signed_in->session.csrf_token, ""),
                            "<p class=\"alert\" role=\"alert\">" + Escape(filters.error) + "</p>");
    UnixSeconds now = ctx_.clock();
    Window window = WindowOf(filters.range, now);
    store::ActivityQuery query = filters.query;
    query.owner_id = api::ActingOwner(ctx_, api::Caller{signed_in->owner});
    query.from = window.from * 1000;
    query.to = window.to * 1000;
    std::string filename = "activity-" + Day(now) + (csv ? ".csv" : ".jsonl");
    DownloadFormat format = csv ? DownloadFormat::kCsv : DownloadFormat::kJsonLines;
    auto sent = co_await DownloadActivity(ctx_, exchange, query, format, filename);
    if (!sent && !exchange.AnswerStarted()) co_return Unavailable(*signed_in, "The activity cannot be read now.");
    co_return Response();  // the answer went out piece by piece
  }

  awaitable<Response> Keys(Request& req, const http::PathParams&, http::Exchange&) {
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, "/keys");
    KeyForm none;
    co_return co_await KeysPage(*signed_in, StatusCode::ok, Notice(req), none);
  }

  awaitable<Response> AddKey(Request& req, const http::PathParams&, http::Exchange&) {
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, "/keys");
    auto form = http::ParseForm(req.body());
    if (!form || !api::FormCarriesCsrf(*form, *signed_in)) co_return Forged(*signed_in, "/keys");
    KeyForm typed{http::FormValue(*form, "provider"), http::FormValue(*form, "label"), {}};
    std::string secret = http::FormValue(*form, "key");
    if (typed.label.empty()) typed.label = std::string(api::kDefaultKeyLabel);
    const proxy::ProviderEndpoint* endpoint = ctx_.upstream.Table().Find(typed.provider);
    if (!endpoint || endpoint->keyless) typed.errors.by_field["provider"] = "Choose one of the providers listed";
    if (auto ok = api::CheckNewKey(typed.label, secret); !ok)
      for (const auto& f : ok.error().field_errors) typed.errors.by_field[f.field] = f.message;
    std::string no_notice;  // g++ 12: no temporaries inside co_await
    if (!typed.errors.empty()) {
      // The key is never sent back: the owner types it again.
      if (typed.errors.by_field.count("key") == 0)
        typed.errors.by_field["key"] = "For your safety the key was not kept; type it again";
      co_return co_await KeysPage(*signed_in, StatusCode::bad_request, no_notice, typed);
    }
    api::Caller caller{signed_in->owner};
    std::string owner = api::ActingOwner(ctx_, caller);
    auto record = ctx_.vault.Seal(RandomUuid(), owner, typed.provider, typed.label, secret, ctx_.clock());
    auto put = [record, &vault = ctx_.vault, secret](store::Store& st) {
      return api::StoreKey(st, vault, record, secret);
    };
    auto replaced = co_await api::OnStore(ctx_, std::move(put));
    if (!replaced && replaced.error().code == Errc::kValidation) {
      for (const auto& f : replaced.error().field_errors) typed.errors.by_field[f.field] = f.message;
      typed.errors.by_field["key"] = "For your safety the key was not kept; type it again";
      co_return co_await KeysPage(*signed_in, StatusCode::bad_request, no_notice, typed);
    }
    if (!replaced) {
      typed.errors.general = "The key could not be saved: " + http::ShownMessage(replaced.error());
      co_return co_await KeysPage(*signed_in, StatusCode::service_unavailable, no_notice, typed);
    }
    ctx_.audit.Record(api::KeyEvent(*replaced ? api::audit_kind::kKeyRotated : api::audit_kind::kKeyAdded,
                                    api::ActorOf(caller), record));
    co_return SeeOther("/keys?done=key-added");
  }

  awaitable<Response> RemoveKey(Request& req, const http::PathParams& params, http::Exchange&) {
    std::string id(params.Get("id"));
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, "/keys");
    auto form = http::ParseForm(req.body());
    if (!form || !api::FormCarriesCsrf(*form, *signed_in)) co_return Forged(*signed_in, "/keys");
    api::Caller caller{signed_in->owner};
    std::string owner = api::ActingOwner(ctx_, caller);
    auto remove = [owner, id](store::Store& st) -> Result<store::ProviderKeyRecord> {
      auto key = st.Keys().GetKey(id);
      if (!key) return key.error();
      if (key->owner_id != owner) return MakeError(Errc::kNotFound, "Key not found");
      if (auto deleted = st.Keys().DeleteKey(id); !deleted) return deleted.error();
      return key;
    };
    auto removed = co_await api::OnStore(ctx_, std::move(remove));
    if (!removed) {
      KeyForm typed;
      typed.errors.general = "That key is not yours, or was already removed.";
      std::string no_notice;
      co_return co_await KeysPage(*signed_in, StatusCode::not_found, no_notice, typed);
    }
    ctx_.vault.Remove(id);
    ctx_.audit.Record(api::KeyEvent(api::audit_kind::kKeyRemoved, api::ActorOf(caller), *removed));
    co_return SeeOther("/keys?done=key-removed");
  }

  // The owner's audit trail, newest first, filterable by kind, grant and day.
  awaitable<Response> Audit(Request& req, const http::PathParams&, http::Exchange&) {
    auto signed_in = co_await api::CurrentOwner(ctx_, req);
    if (!signed_in) co_return SignInAgain(req, "/audit");
    std::string kind = http::QueryValue(req.target(), "kind");
    std::string grant = http::QueryValue(req.target(), "grant");
    std::string from = http::QueryValue(req.target(), "from");
    std::string to = http::QueryValue(req.target(), "to");
    std::string before = http::QueryValue(req.target(), "before");
    store::AuditQuery query;
    query.owner_id = signed_in->owner.id;
    if (!kind.empty()) query.kind = kind;
    if (!grant.empty()) query.grant_id = grant;
    std::string error;
    if (!from.empty()) {
      if (auto at = ParseIso8601Millis(from)) query.from = *at; else error = "From: write a date like 2026-11-30";
    }
    if (!to.empty()) {
      if (auto at = ParseIso8601Millis(to)) query.to = *at + (to.size() == 10 ? kDay * 1000 : 0);
      else error = "To: write a date like 2026-11-30";
    }
    if (!before.empty()) {
      auto v = ParseWhole(before);
      if (v && *v) query.before_seq = **v;
    }
    query.limit = kLogPage;
    auto list = [query](store::Store& st) { return st.Audit().ListAudit(query); };
    auto records = co_await api::OnStoreRead(ctx_, std::move(list));
    if (!records) co_return Unavailable(*signed_in, "The audit trail cannot be read now.");
    std::string body = "<h1>Audit trail</h1><p class=\"muted\">Everything done with your grants and keys, in order; "
                       "<code>aipassport audit verify</code> checks that none of it was changed.</p>";
    body += "<form method=\"get\" action=\"/audit\" class=\"filters\" id=\"audit-filters\">"
            "<div><label for=\"kind\">Kind</label><input id=\"kind\" name=\"kind\" placeholder=\"grant.revoked\" "
            "value=\"" + Escape(kind) + "\"></div><div><label for=\"grant\">Grant</label><input id=\"grant\" "
            "name=\"grant\" value=\"" + Escape(grant) + "\"></div><div><label for=\"from\">From</label><input "
            "id=\"from\" name=\"from\" type=\"date\" value=\"" + Escape(from) + "\"></div><div><label for=\"to\">To"
            "</label><input id=\"to\" name=\"to\" type=\"date\" value=\"" + Escape(to) + "\"></div><div><button "
            "type=\"submit\">Show</button></div></form>";
    if (!error.empty()) body += "<p class=\"alert\" role=\"alert\">" + Escape(error) + "</p>";
    if (records->empty()) {
      body += "<p class=\"muted\">No records.</p>";
    } else {
      body += "<div class=\"table-wrap\"><table id=\"audit\"><thead><tr><th class=\"num\">#</th><th>When</th><th>What"
              "</th><th>By</th><th>Grant</th><th>Detail</th></tr></thead><tbody>";
      for (const auto& r : *records)
        body += "<tr><td class=\"num\">" + std::to_string(r.seq) + "</td><td>" + Escape(When(r.at / 1000)) +
                "</td><td>" + Escape(r.kind) + "</td><td>" + Escape(VisibleText(r.actor)) + "</td><td>" +
                (r.grant_id.empty() ? "" : "<a href=\"/grants/" + Escape(r.grant_id) + "\">" +
                                               Escape(r.grant_id.substr(0, 8)) + "</a>") +
                "</td><td><code>" + Escape(VisibleText(r.detail == "{}" ? "" : r.detail)) + "</code></td></tr>";
      body += "</tbody></table></div>";
      if (static_cast<int64_t>(records->size()) == kLogPage)
        body += "<p><a href=\"/audit?kind=" + Percent(kind) + "&amp;grant=" + Percent(grant) + "&amp;from=" +
                Percent(from) + "&amp;to=" + Percent(to) + "&amp;before=" + std::to_string(records->back().seq) +
                "\">Older records →</a></p>";
    }
    co_return ConsolePage(error.empty() ? StatusCode::ok : StatusCode::bad_request, "Audit trail",
                          Nav(signed_in->session.csrf_token, "/audit"), body);
  }

 private:
  struct Filters {
    std::string range = "7d", by = "app", app, model, status, grant, cursor, newer, error;
    store::ActivityQuery query;
  };

  static std::string QueryOf(const Request& req) {
    std::string_view target = req.target();
    size_t q = target.find('?');
    return q == std::string_view::npos ? "" : std::string(target.substr(q));
  }

  static Filters ReadFilters(const Request& req) {
    Filters f;
    if (!http::QueryForm(req.target()))
      f.error = "This page link cannot be read (it was cut or changed): no filter applies";
    auto value = [&req](const char* name) { return http::QueryValue(req.target(), name); };
    if (std::string r = value("range"); r == "24h" || r == "7d" || r == "30d") f.range = r;
    if (value("by") == "model") f.by = "model";
    f.app = value("app");
    f.model = value("model");
    f.status = value("status");
    f.grant = value("grant");
    f.cursor = value("cursor");
    f.newer = value("newer");
    if (!f.app.empty()) f.query.app_name = f.app;
    if (!f.model.empty()) f.query.model = f.model;
    if (!f.grant.empty()) f.query.grant_id = f.grant;
    if (!f.status.empty()) {
      auto v = ParseWhole(f.status);
      if (v && *v && **v >= 100 && **v <= 599)
        f.query.status = static_cast<int>(**v);
      else
        f.error = "Status: write an HTTP status such as 200 or 429";
    }
    return f;
  }

  static std::string FilterQuery(const Filters& f) {
    std::string q = "range=" + f.range + "&amp;by=" + f.by;
    if (!f.app.empty()) q += "&amp;app=" + Percent(f.app);
    if (!f.model.empty()) q += "&amp;model=" + Percent(f.model);
    if (f.query.status) q += "&amp;status=" + std::to_string(*f.query.status);
    if (!f.grant.empty()) q += "&amp;grant=" + Percent(f.grant);
    return q;
  }

  struct Window {
    UnixSeconds from = 0, to = 0;
    int64_t bucket = kDay;
  };

  // 24 hours in hours; 7 or 30 days in UTC days, today included.
  static Window WindowOf(const std::string& range, UnixSeconds now) {
    if (range == "24h") {
      UnixSeconds hour_end = (now / 3600 + 1) * 3600;
      return {hour_end - 24 * 3600, hour_end, 3600};
    }
    int64_t days = range == "30d" ? 30 : 7;
    UnixSeconds day_end = (now / kDay + 1) * kDay;
    return {day_end - days * kDay, day_end, kDay};
  }

  static std::string Select(const char* name, const char* label, const std::string& chosen,
                            const std::vector<std::pair<std::string, std::string>>& options) {
    std::string html = "<div><label for=\"" + std::string(name) + "\">" + label + "</label><select id=\"" + name +
                       "\" name=\"" + name + "\">";
    for (const auto& [value, text] : options)
      html += "<option value=\"" + Escape(value) + "\"" + (value == chosen ? " selected" : "") + ">" + Escape(text) +
              "</option>";
    return html + "</select></div>";
  }

  struct KeyForm {
    std::string provider, label;
    FormErrors errors;
  };

  awaitable<Response> KeysPage(const api::SignedIn& s, StatusCode status, const std::string& notice, const KeyForm& typed) {
    api::Caller caller{s.owner};
    std::string owner = api::ActingOwner(ctx_, caller);
    UnixSeconds now = ctx_.clock();
    auto read = [owner, caller, now](store::Store& st)
        -> Result<std::pair<std::vector<store::ProviderKeyRecord>, std::vector<store::GrantRecord>>> {
      auto keys = st.Keys().ListKeys(owner);
      if (!keys) return keys.error();
      store::GrantQuery newest;  // the newest page of the owner's grants
      newest.owner_id = owner;
      auto grants = st.Grants().ListGrantPage(newest);
      if (!grants) return grants.error();
      std::vector<store::GrantRecord> live;
      for (auto& g : *grants)
        if (g.owner_id && *g.owner_id == owner && api::MayManage(caller, g) &&
            domain::EffectiveStatus(g, now) == GrantStatus::kApproved)
          live.push_back(std::move(g));
      return std::make_pair(std::move(*keys), std::move(live));
    };
    auto got = co_await api::OnStore(ctx_, std::move(read));
    if (!got) co_return Unavailable(s, "Your keys cannot be read now.");
    const auto& [keys, grants] = *got;
    const std::string& csrf = s.session.csrf_token;
    auto users = [&grants](const std::string& provider, const std::string& label) {
      std::string html;
      for (const auto& g : grants) {
        auto scope = domain::ParseScopeText(g.scope_json);
        if (!scope || scope->provider != provider || g.key_label.value_or("") != label) continue;
        html += (html.empty() ? "" : ", ") + std::string("<a href=\"/grants/") + Escape(g.id) + "\">" +
                Escape(VisibleText(g.app_name)) + "</a>";
      }
      return html.empty() ? std::string("<span class=\"muted\">no active grant</span>") : html;
    };
    std::string rows;
    std::set<std::string> covered;
    for (const auto& k : keys) {
      covered.insert(k.provider);
      rows += "<tr><td>" + Escape(ProviderName(k.provider)) + "</td><td>" + Escape(k.label) +
              "</td><td><code class=\"hint\">…" + Escape(k.hint) + "</code></td><td>" + users(k.provider, k.label) +
              "</td><td>" + (k.last_used_at && *k.last_used_at > 0 ? Escape(Relative(*k.last_used_at, now)) : "never") +
              "</td><td><form method=\"post\" action=\"/console/keys/" + Escape(k.id) + "/remove\">" + Hidden(csrf) +
              "<button type=\"submit\" class=\"danger\" name=\"remove\" value=\"" + Escape(k.id) +
              "\">Remove</button></form></td></tr>";
    }
    std::vector<std::pair<std::string, std::string>> providers;
    std::vector<std::string> missing;
    for (const auto& endpoint : ctx_.upstream.Table().endpoints) {
      if (endpoint.keyless) continue;
      providers.emplace_back(endpoint.name, ProviderName(endpoint.name));
      if (auto env = ctx_.vault.EnvironmentKey(owner, endpoint.name)) {
        covered.insert(endpoint.name);
        std::string hint = vault::KeyHint(env->secret);
        rows += "<tr><td>" + Escape(ProviderName(endpoint.name)) + "</td><td>" + Escape(env->label) +
                " <span class=\"muted\">(the broker's environment)</span></td><td>" +
                (hint.empty() ? std::string("<span class=\"muted\">too short to show any of it</span>")
                              : "<code class=\"hint\">…" + Escape(hint) + "</code>") +
                "</td><td>" + users(endpoint.name, env->label) + "</td><td>" +
                [&] {
                  UnixSeconds used = env->last_used_at.load(std::memory_order_relaxed);
                  return used > 0 ? Escape(Relative(used, now)) : std::string("never");
                }() +
                "</td><td class=\"muted\">set by the operator</td></tr>";
      }
      if (!covered.count(endpoint.name)) missing.push_back(ProviderName(endpoint.name));
    }
    std::string body = "<h1>Your provider keys</h1>" + notice;
    if (!typed.errors.general.empty()) body += "<p class=\"alert\" role=\"alert\">" + Escape(typed.errors.general) + "</p>";
    body += rows.empty() ? "<p class=\"muted\">No keys yet.</p>"
                         : "<div class=\"table-wrap\"><table id=\"keys\"><thead><tr><th>Provider</th><th>Label</th>"
                           "<th>Key</th><th>Used by</th><th>Last used</th><th></th></tr></thead><tbody>" +
                               rows + "</tbody></table></div>";
    body += "<p class=\"muted\">Only the last four characters of a key are ever shown.</p>";
    if (!missing.empty())
      body += "<p class=\"warning\" id=\"missing\">No key yet for " + Escape(domain::JoinForHumans(missing)) +
              ": requests for " + (missing.size() == 1 ? "it" : "them") + " cannot be approved until you add one.</p>";
    std::string chosen = typed.provider.empty() && !providers.empty() ? providers.front().first : typed.provider;
    body += "<h2>Add a key</h2><form method=\"post\" action=\"/console/keys\" id=\"key-form\" autocomplete=\"off\" "
            "novalidate>" + Hidden(csrf) + Select("provider", "Provider", chosen, providers);
    if (auto it = typed.errors.by_field.find("provider"); it != typed.errors.by_field.end())
      body += "<p class=\"field-error\" role=\"alert\">" + Escape(it->second) + "</p>";
    body += TextField("label", "Label", typed.label.empty() ? std::string(api::kDefaultKeyLabel) : typed.label,
                      typed.errors, "", "text", "");
    body += TextField("key", "API key", "", typed.errors, "", "password", "");
    body += "<p class=\"muted\">A key under a label you already use replaces it; its grants go on with the new "
            "one.</p><button type=\"submit\" class=\"primary\">Save key</button></form>";
    co_return ConsolePage(status, "Keys", Nav(csrf, "/keys"), body);
  }

  Response SignInAgain(const Request& req, const std::string& next) {
    return SignInFirst(req, api::SessionCookieName(ctx_), next);
  }

  Response Forged(const api::SignedIn& s, const std::string& back) {
    return ConsolePage(StatusCode::forbidden, "Nothing changed", Nav(s.session.csrf_token, ""),
                       "<p class=\"alert\" role=\"alert\">This form did not come from your page; nothing was "
                       "changed.</p><p><a href=\"" +
                           Escape(back) + "\">Back</a></p>");
  }

  Response NotFoundPage(const api::SignedIn& s) {
    return ConsolePage(StatusCode::not_found, "Not found", Nav(s.session.csrf_token, ""),
                       "<h1>No such grant</h1><p>It does not exist, or it is not yours.</p><p><a href=\"/\">Back to "
                       "your grants</a></p>");
  }

  Response Unavailable(const api::SignedIn& s, const std::string& what) {
    return ConsolePage(StatusCode::service_unavailable, "Error", Nav(s.session.csrf_token, ""),
                       "<p class=\"alert\" role=\"alert\">" + Escape(what) + " Try again in a moment.</p>");
  }

  static std::string Notice(const Request& req) {
    std::string done = http::QueryValue(req.target(), "done");
    if (done == "revoked")
      return "<p class=\"notice\" role=\"status\" id=\"notice\">Revoked. Its tokens stopped working at once: the "
             "app's next call is refused.</p>";
    if (done == "limits")
      return "<p class=\"notice\" role=\"status\" id=\"notice\">Saved. The new limits apply from the next call.</p>";
    if (done == "key-added") return "<p class=\"notice\" role=\"status\" id=\"notice\">Key saved.</p>";
    if (done == "key-removed") return "<p class=\"notice\" role=\"status\" id=\"notice\">Key removed.</p>";
    return "";
  }

  awaitable<Result<domain::Grant>> Managed(const std::string& id, const api::SignedIn& s) {
    auto grant = co_await api::LoadGrant(ctx_, id);
    api::Caller caller{s.owner};
    if (!grant || !api::MayManage(caller, grant->record)) co_return MakeError(Errc::kNotFound, "Grant not found");
    co_return std::move(*grant);
  }

  // What a grant's page shows of its record: how many days its charts cover and which page of its
  // calls and events (the newest unless a link asked for older ones).
  struct GrantView {
    int64_t days = kChartDays;
    std::optional<store::RecordCursor> calls_after;
    std::optional<int64_t> events_before;
    bool bad_link = false;
  };

  static GrantView ViewOf(const Request& req) {
    GrantView view;
    std::string days = http::QueryValue(req.target(), "days");
    for (int64_t choice : kChartChoices)
      if (days == std::to_string(choice)) view.days = choice;
    std::string calls = http::QueryValue(req.target(), "calls");
    if (!calls.empty()) {
      view.calls_after = record::ParseActivityCursor(calls);
      if (!view.calls_after) view.bad_link = true;
    }
    std::string events = http::QueryValue(req.target(), "events");
    if (!events.empty()) {
      auto before = ParseWhole(events);
      if (before && *before)
        view.events_before = **before;
      else
        view.bad_link = true;
    }
    return view;
  }

  // A link to this grant's page with `view`'s choices, those left at their defaults left out.
  static std::string GrantHref(const std::string& id, const GrantView& view, const std::string& anchor) {
    std::string query;
    auto add = [&query](const std::string& pair) { query += (query.empty() ? "?" : "&amp;") + pair; };
    if (view.days != kChartDays) add("days=" + std::to_string(view.days));
    if (view.calls_after) {
      store::ActivityRecord last;
      last.id = view.calls_after->id;
      last.at = view.calls_after->at;
      add("calls=" + Percent(record::ActivityCursor(last)));
    }
    if (view.events_before) add("events=" + std::to_string(*view.events_before));
    return "/grants/" + Percent(id) + query + anchor;
  }

  awaitable<Response> GrantPage(const api::SignedIn& s, const std::string& id, StatusCode status,
                                const std::string& notice, const LimitsInput* typed, const FormErrors& errors,
                                const GrantView& view) {
    auto grant = co_await Managed(id, s);
    if (!grant) co_return NotFoundPage(s);
    struct Record {
      std::vector<store::UsageRecord> usage;  // the charts' days, at most kMaxUsageRows + 1
      api::PageOfRows<store::EventRecord> events;
      api::PageOfRows<store::ActivityRecord> calls;
      std::optional<UnixMillis> last_call;
      std::vector<store::TokenUseRecord> tokens;  // at most kTokensShown + 1
      std::vector<store::RefreshFamilyRecord> families;
      std::optional<store::GrantRecord> parent;  // the grant that handed it on, if one did
      std::vector<store::GrantRecord> children;  // at most kChildrenShown
      bool children_cut = false;                 // more were handed on than are shown
    };
    UnixSeconds now = ctx_.clock();
    std::vector<std::string> days = LastDays(now, view.days);
    // Every read is bounded by a page, and the page says when something was left out.
    std::string parent_id = grant->record.ancestors.empty() ? "" : grant->record.ancestors.front();
    auto read = [id, view, parent_id, from_day = days.front()](store::Store& st) -> Result<Record> {
      Record r;
      auto usage = st.Metering().ListUsageFrom(id, from_day, kMaxUsageRows + 1);
      if (!usage) return usage.error();
      r.usage = std::move(*usage);
      auto events = st.Metering().ListRecentEvents(id, view.events_before, kEventsPage + 1);
      if (!events) return events.error();
      r.events = api::ShapePage(std::move(*events), kEventsPage, false, view.events_before.has_value());
      store::ActivityQuery q;
      q.grant_id = id;
      q.limit = kRecentCalls + 1;
      q.after = view.calls_after;
      auto calls = st.Activity().ListActivity(q);
      if (!calls) return calls.error();
      r.calls = api::ShapePage(std::move(*calls), kRecentCalls, false, view.calls_after.has_value());
      if (!view.calls_after) {
        if (!r.calls.rows.empty()) r.last_call = r.calls.rows.front().at;
      } else {
        store::ActivityQuery last;
        last.grant_id = id;
        last.limit = 1;
        auto newest = st.Activity().ListActivity(last);
        if (!newest) return newest.error();
        if (!newest->empty()) r.last_call = newest->front().at;
      }
      auto tokens = st.Activity().ListTokenUses(id, kTokensShown + 1);
      if (!tokens) return tokens.error();
      r.tokens = std::move(*tokens);
      auto families = st.OAuth().ListRefreshFamilies(id, kTokensShown + 1);
      if (!families) return families.error();
      r.families = std::move(*families);
      auto children = st.Grants().ListChildIds(id, kChildrenShown + 1);
      if (!children) return children.error();
      r.children_cut = static_cast<int64_t>(children->size()) > kChildrenShown;
      if (r.children_cut) children->pop_back();
      for (const auto& child_id : *children) {
        auto child = st.Grants().GetGrant(child_id);
        if (!child) return child.error();
        r.children.push_back(std::move(*child));
      }
      if (!parent_id.empty()) {
        auto parent = st.Grants().GetGrant(parent_id);
        if (!parent) return parent.error();
        r.parent = std::move(*parent);
      }
      return r;
    };
    auto record = co_await api::OnStoreRead(ctx_, std::move(read));
    if (!record) co_return Unavailable(s, "This grant's record cannot be read now.");
    const auto& r = grant->record;
    const auto& scope = grant->scope;
    auto st = domain::EffectiveStatus(r, now);
    const std::string& csrf = s.session.csrf_token;
    std::string name = Escape(VisibleText(r.app_name));
    std::string body = "<p><a href=\"/\">← Your grants</a></p><h1>" + name + " " + StatusBadge(st) + "</h1>" + notice;
    if (view.bad_link)
      body += "<p class=\"alert\" role=\"alert\">This page link is not valid (it was cut or changed): the newest "
              "calls and events are shown.</p>";
    auto [ended, why] = Ending(r, st);
    std::string home = r.app_url.empty() ? "" : "<a href=\"" + Escape(r.app_url) + "\" rel=\"noreferrer\">" +
                                                    Escape(VisibleText(r.app_url)) + "</a>";
    std::string caps;
    for (const auto& c : scope.capabilities) caps += (caps.empty() ? "" : ", ") + Escape(c);
    body += "<h2>What it may do</h2>" +
            Facts({{"App", r.verified ? "registered by an owner" : "<strong class=\"unverified\">Unverified</strong> "
                                                                    "(its name and home page are what it says)"},
                   {"Home page", home},
                   {"Host", Escape(HostOf(r.app_url))},
                   {"Reason", Escape(VisibleText(r.reason))},
                   {"Provider", Escape(ProviderName(scope.provider))},
                   {"Models", Escape(VisibleText(ModelsWords(scope)))},
                   {"Capabilities", caps},
                   {"Key", r.key_label ? "your " + Escape(ProviderName(scope.provider)) + " key “" +
                                             Escape(*r.key_label) + "”"
                                       : ""},
                   {"Approved", r.approved_at ? Escape(When(*r.approved_at)) : ""},
                   {"Ends", r.expires_at && st == GrantStatus::kApproved
                                ? Escape(Relative(*r.expires_at, now)) + " (" + Escape(When(*r.expires_at)) + ")"
                                : ""},
                   {"Ended", why.empty() ? "" : Escape(why) + (ended ? " on " + Escape(When(*ended)) : "")},
                   {"Parent grant", record->parent ? GrantLink(*record->parent, "parent-grant") : ""},
                   {"Delegation", DelegationWords(scope)}},
                  "grant-facts");
    body += ChildrenList(record->children, record->children_cut, now);
    body += "<h2>Use</h2>" + Facts({{"Spent", SpendOfBudget(r)},
                                     {"Requests", Escape(RequestsOfCap(r))},
                                     {"Rate", Escape(RateWords(scope))},
                                     {"Last call", record->last_call ? Escape(Relative(*record->last_call / 1000, now))
                                                                      : "never"}},
                                    "use");
    if (st == GrantStatus::kApproved || st == GrantStatus::kExhausted) {
      LimitsInput in = typed ? *typed : InputOf(scope);
      body += "<h2>Limits</h2>" + LimitsForm(*grant, in, errors, csrf, now);
    }
    bool cut = static_cast<int64_t>(record->usage.size()) > kMaxUsageRows;
    if (cut) record->usage.resize(kMaxUsageRows);
    std::vector<ChartValue> spend, tokens;
    for (const auto& u : record->usage) {
      spend.push_back({u.day, u.model, u.cost_micros});
      tokens.push_back({u.day, u.model, u.input_tokens + u.output_tokens});
    }
    ChartSpec spend_spec{"spend-chart", "Spend per day, by model", "US dollars", "Day (UTC)",
                         days, ShortDays(days), [](int64_t v) { return Usd(v); }};
    ChartSpec token_spec{"token-chart", "Tokens per day (input + output), by model", "tokens", "Day (UTC)",
                         days, ShortDays(days), [](int64_t v) { return Count(v); }};
    std::string choices;
    for (int64_t choice : kChartChoices) {
      GrantView other = view;
      other.days = choice;
      choices += choice == view.days ? " <strong aria-current=\"true\">" + std::to_string(choice) + " days</strong>"
                                     : " <a href=\"" + GrantHref(id, other, "#days") + "\">" + std::to_string(choice) +
                                           " days</a>";
    }
    body += "<h2 id=\"days\">Last " + std::to_string(view.days) + " days</h2><p class=\"muted\">Show" + choices +
            ". Its spend in all is under Use above.</p>";
    if (cut)
      body += "<p class=\"warning\" id=\"chart-cut\">Only the first " + Count(kMaxUsageRows) +
              " day-and-model figures of these days are drawn; choose fewer days to see them all.</p>";
    body += StackedBarChart(spend_spec, spend) + StackedBarChart(token_spec, tokens);
    body += "<h2 id=\"calls\">" + std::string(view.calls_after ? "Older calls" : "Recent calls") + "</h2>" +
            CallRows(record->calls.rows, now, false);
    {
      std::string pager;
      GrantView newest = view;
      newest.calls_after.reset();
      if (record->calls.newer) pager += "<a href=\"" + GrantHref(id, newest, "#calls") + "\">← Newest calls</a>";
      if (record->calls.older) {
        GrantView older = view;
        older.calls_after = store::RecordCursor{record->calls.rows.back().at, record->calls.rows.back().id};
        pager += "<a href=\"" + GrantHref(id, older, "#calls") + "\" rel=\"next\">Older calls →</a>";
      }
      if (!pager.empty()) body += "<nav class=\"pager\" id=\"call-pages\" aria-label=\"Pages of its calls\">" + pager + "</nav>";
    }
    body += "<h2 id=\"tokens\">Its tokens</h2>" + TokenRows(record->tokens, record->families, now);
    body += "<h2 id=\"events-heading\">Events</h2>";
    if (record->events.rows.empty()) {
      body += "<p class=\"muted\">No events" + std::string(view.events_before ? " before these." : ".") + "</p>";
    } else {
      body += "<ul id=\"events\">";
      for (const auto& e : record->events.rows)
        body += "<li>" + Escape(When(e.at)) + ": " + Escape(EventWords(e)) + "</li>";
      body += "</ul>";
    }
    {
      std::string pager;
      GrantView newest = view;
      newest.events_before.reset();
      if (record->events.newer)
        pager += "<a href=\"" + GrantHref(id, newest, "#events-heading") + "\">← Newest events</a>";
      if (record->events.older) {
        GrantView older = view;
        older.events_before = record->events.rows.back().id;
        pager += "<a href=\"" + GrantHref(id, older, "#events-heading") + "\" rel=\"next\">Older events →</a>";
      }
      if (!pager.empty())
        body += "<nav class=\"pager\" id=\"event-pages\" aria-label=\"Pages of its events\">" + pager + "</nav>";
    }
    body += "<p><a href=\"/audit?grant=" + Percent(id) + "\">Its audit trail</a></p>";
    if (r.status != GrantStatus::kRevoked && st != GrantStatus::kDenied && st != GrantStatus::kPending)
      body += "<h2>End it</h2><p><a class=\"button danger-link\" id=\"revoke-link\" href=\"/console/grants/" +
              Escape(id) + "/revoke\">Revoke…</a></p>";
    if (st == GrantStatus::kPending)
      body += "<p><a class=\"button\" href=\"/consent/" + Escape(id) + "\">Review this request</a></p>";
    co_return ConsolePage(status, VisibleText(r.app_name), Nav(csrf, ""), body);
  }

  api::BrokerContext& ctx_;
};

// The page for browsers, `api` for everyone else.
http::RouteHandler PageOrApi(http::RouteHandler page, http::RouteHandler api) {
  return [page = std::move(page), api = std::move(api)](Request& req, const http::PathParams& params,
                                                        http::Exchange& exchange) {
    return WantsPage(req) ? page(req, params, exchange) : api(req, params, exchange);
  };
}

}  // namespace

bool WantsPage(const http::Request& req) {
  auto accept = req.find(bhttp::field::accept);
  return accept != req.end() && std::string_view(accept->value()).find("text/html") != std::string_view::npos;
}

void AddConsolePages(http::Router& router, api::BrokerContext& ctx) {
  auto pages = std::make_shared<ConsolePages>(ctx);
  using V = http::Verb;
  router.Add(V::get, "/static/console.css", http::BindMethod<&ConsolePages::Css>(pages));
  router.Add(V::get, "/", http::BindMethod<&ConsolePages::Home>(pages));
  router.Wrap(V::get, "/grants/:id", [pages](http::RouteHandler api) {
    return PageOrApi(http::BindMethod<&ConsolePages::Grant>(pages), std::move(api));
  });
  router.Add(V::post, "/console/grants/:id/limits",
             api::SameOriginOnly(ctx, http::BindMethod<&ConsolePages::SaveLimits>(pages)));
  router.Add(V::get, "/console/grants/:id/revoke", http::BindMethod<&ConsolePages::ConfirmRevoke>(pages));
  router.Add(V::post, "/console/grants/:id/revoke",
             api::SameOriginOnly(ctx, http::BindMethod<&ConsolePages::Revoke>(pages)));
  router.Wrap(V::get, "/activity", [pages](http::RouteHandler api) {
    return PageOrApi(http::BindMethod<&ConsolePages::Activity>(pages), std::move(api));
  });
  router.Add(V::get, "/console/activity.csv", http::BindMethod<&ConsolePages::Download>(pages));
  router.Add(V::get, "/console/activity.jsonl", http::BindMethod<&ConsolePages::Download>(pages));
  router.Wrap(V::get, "/keys", [pages](http::RouteHandler api) {
    return PageOrApi(http::BindMethod<&ConsolePages::Keys>(pages), std::move(api));
  });
  router.Add(V::post, "/console/keys", api::SameOriginOnly(ctx, http::BindMethod<&ConsolePages::AddKey>(pages)));
  router.Add(V::post, "/console/keys/:id/remove",
             api::SameOriginOnly(ctx, http::BindMethod<&ConsolePages::RemoveKey>(pages)));
  router.Wrap(V::get, "/audit", [pages](http::RouteHandler api) {
    return PageOrApi(http::BindMethod<&ConsolePages::Audit>(pages), std::move(api));
  });
}

}  // namespace ap::ui
