#include "ui/html.hpp"

#include "core/base64url.hpp"
#include "crypto/hash.hpp"
#include "http/cookies.hpp"
#include "http/url.hpp"

namespace ap::ui {
namespace bhttp = http::bhttp;

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// The console's one stylesheet (GET /static/console.css): served by the broker, cached for a year
// under a versioned URL, so pages carry a link instead of the rules.
constexpr std::string_view kStyle =
    ":root{--ink:#1d1d1f;--muted:#5f6368;--line:#d9dce1;--bg:#f6f7f9;--card:#fff;--primary:#0b57d0;"
    "--danger:#b3261e;--ok:#146c2e;--warn:#8a4b00}"
    "*{box-sizing:border-box}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:var(--ink);background:var(--bg);"
    "line-height:1.45}"
    "main{max-width:34rem;margin:2rem auto;padding:0 1rem}body.wide main{max-width:64rem}"
    "h1{font-size:1.6rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:1.8rem 0 .6rem}"
    "h3{font-size:1.05rem;margin:.2rem 0}"
    "a{color:var(--primary)}.muted{color:var(--muted)}"
    "nav.top{background:#fff;border-bottom:1px solid var(--line);padding:.5rem 1rem;display:flex;flex-wrap:wrap;"
    "gap:.3rem 1rem;align-items:center}"
    "nav.top a{text-decoration:none;font-weight:500}nav.top a[aria-current]{text-decoration:underline}"
    "nav.top .brand{font-weight:700;color:var(--ink);margin-right:auto}"
    "nav.top form{display:inline;margin:0}nav.top button{margin:0;padding:.2rem .7rem;font-size:.9rem}"
    "label{display:block;margin:.8rem 0 .2rem;font-weight:500}"
    "input,select,textarea{width:100%;padding:.5rem;font-size:1rem;border:1px solid #8c9199;border-radius:.35rem;"
    "background:#fff}"
    "input[type=checkbox],input[type=radio]{width:auto}"
    "input[aria-invalid=true]{border:2px solid var(--danger)}"
    ".field-error{color:var(--danger);font-size:.9rem;margin:.2rem 0 0}"
    "button,.button{display:inline-block;margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem;border-radius:.35rem;"
    "border:1px solid #8c9199;background:#fff;color:var(--ink);cursor:pointer;text-decoration:none}"
    ".button.primary,button.primary,button[value=approve]{"
    "background:var(--primary);border-color:var(--primary);color:#fff;font-weight:600}"
    ".button.danger-link,button.danger,button[value=revoke]{"
    "background:var(--danger);border-color:var(--danger);color:#fff;font-weight:600}"
    "button[value=deny],button.secondary{background:#fff;border-color:var(--danger);color:var(--danger)}"
    "button:disabled,button[aria-disabled=true]{opacity:.5;cursor:not-allowed}"
    ".error{color:var(--danger)}"
    ".notice{background:#e6f4ea;border-left:4px solid var(--ok);padding:.6rem .8rem}"
    ".alert{background:#fce8e6;border-left:4px solid var(--danger);padding:.6rem .8rem}"
    ".warning{color:var(--warn);background:#fff4e0;padding:.5rem}"
    ".domain{font-size:2rem;font-weight:bold;margin:.2rem 0;overflow-wrap:anywhere}"
    "h1,#return-host,#home-host{overflow-wrap:anywhere}"
    ".badge,.unverified{background:#b00020;color:#fff;padding:.1rem .4rem;border-radius:.2rem;font-size:.8em}"
    ".status{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.85em;background:#e8eaed}"
    ".status-approved{background:#e6f4ea;color:var(--ok)}.status-exhausted,.status-revoked,.status-denied"
    "{background:#fce8e6;color:var(--danger)}.status-expired{background:#eee;color:var(--muted)}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(18rem,1fr));gap:1rem;padding:0;"
    "list-style:none}"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:1rem}"
    ".card header{display:flex;justify-content:space-between;gap:.5rem;align-items:baseline}"
    "meter{width:100%;height:1rem}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem;margin:.6rem 0}"
    "dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;overflow-wrap:anywhere}"
    "table{border-collapse:collapse;width:100%;background:#fff;font-size:.92rem}"
    "th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line)}"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".table-wrap{overflow-x:auto}"
    "details{background:#fff;border:1px solid var(--line);border-radius:.6rem;padding:.6rem 1rem}"
    "summary{cursor:pointer;font-weight:600}"
    "figure.chart{margin:1rem 0;background:#fff;border:1px solid var(--line);border-radius:.6rem;padding:.6rem}"
    "figure.chart figcaption{font-weight:600}svg.chart{width:100%;height:auto}"
    "ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.9rem}"
    ".filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end}"
    ".filters label{margin:0}.filters input,.filters select{width:auto;min-width:8rem}"
    ".limits{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:0 1rem}"
    "nav.pager{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;margin:1rem 0}nav.pager a[rel=next]{margin-left:auto}"
    "@media (max-width:30rem){main{margin:1rem auto}h1{font-size:1.35rem}dl.facts{grid-template-columns:1fr}"
    "dl.facts dd{margin-bottom:.3rem}}"
    // On a phone a wide table's rows become cards, each cell under its column's name, so nothing is
    // cut off at the screen's edge.
    "@media (max-width:40rem){table.stack thead{position:absolute;width:1px;height:1px;overflow:hidden;"
    "clip:rect(0 0 0 0)}table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}"
    "table.stack tr{border-bottom:2px solid var(--line);padding:.3rem 0}"
    "table.stack td{display:flex;justify-content:space-between;gap:1rem;border:0;padding:.15rem .5rem;"
    "text-align:right;overflow-wrap:anywhere}"
    "table.stack td::before{content:attr(data-label);color:var(--muted);text-align:left;flex:none}}";

// The consent page's one script. Approve counts only once the page's window has been in front, with
// the focus, for kDwellMs, and the person has since moved the pointer, pressed a key, or touched
// the screen (a finger or pen comes down on a button without moving first) in it; a press before
// that moment starts it over. So a click meant for another window does not approve: a
// double-click begun on another site, whose window closes (or sends this one here) between the two
// clicks so that the second lands on Approve ("double-clickjacking"; nothing is framed, so
// frame-ancestors cannot stop it), nor a quick run of clicks or taps asked for while this page loads
// under them. Until then Approve is marked aria-disabled (not disabled: the focus stays on it, and
// Enter in a field is held too) and a submit by it is held back with a word why; one after the
// moment (a screen reader's or voice control's click, which moves nothing) arms it for the next.
// A browser without scripts approves as ever.
constexpr std::string_view kArmApproveScript = R"js((function () {
  var kDwellMs = 600;
  var approve = document.querySelector('button[name="decision"][value="approve"]');
  if (!approve || approve.disabled) return;
  var inFront = null, armed = false, restarts = 0;
  function disarm() {
    ++restarts;
    inFront = null;
    armed = false;
    approve.setAttribute('aria-disabled', 'true');
  }
  function judge() {
    if (document.visibilityState !== 'visible' || !document.hasFocus()) disarm();
    else if (inFront === null) inFront = Date.now();
  }
  function settled() {
    return inFront !== null && Date.now() - inFront >= kDwellMs;
  }
  function arm() {
    armed = true;
    approve.removeAttribute('aria-disabled');
  }
  // A move or key before the moment is over counts once it is, unless a press starts it over.
  function gesture() {
    judge();
    if (armed || inFront === null) return;
    if (settled()) return arm();
    var asOf = restarts;
    setTimeout(function () {
      if (asOf === restarts && !armed && settled()) arm();
    }, inFront + kDwellMs - Date.now());
  }
  function say(text) {
    var hint = document.getElementById('approve-hint') || document.createElement('p');
    hint.id = 'approve-hint';
    hint.setAttribute('role', 'status');
    hint.textContent = text;
    approve.form.after(hint);
  }
  disarm();
  judge();
  window.addEventListener('blur', disarm);
  window.addEventListener('focus', judge);
  window.addEventListener('pageshow', function () { disarm(); judge(); });
  document.addEventListener('visibilitychange', judge);
  document.addEventListener('pointermove', gesture);
  document.addEventListener('keydown', function (event) {
    if (!event.repeat) gesture();  // not a key held down since another window
  });
  document.addEventListener('pointerdown', function (event) {
    if (armed) return;
    judge();
    // A finger or pen reaches a button without moving first; any other press, and a touch in a
    // quick run of them, starts the moment over, so presses in quick succession never arm it.
    if (event.pointerType !== 'mouse' && settled()) return arm();
    if (inFront === null) return;
    ++restarts;
    inFront = Date.now();
  });
  approve.form.addEventListener('submit', function (event) {
    if (event.submitter !== approve || armed) return;
    event.preventDefault();
    // A click from a screen reader or voice control comes with no pointer or key: once the moment
    // has passed it arms Approve for the next one.
    if (settled()) {
      arm();
      say('Press Approve again to approve.');
    } else {
      say('Not approved yet: this window has only just come to the front. Read the request, then approve.');
    }
  });
})();)js";

// The CSP source that lets that script, and nothing else, run: its hash (CSP Level 3).
const std::string& ArmApproveSource() {
  static const std::string source = "'sha256-" + Base64Encode(crypto::Sha256(kArmApproveScript)) + "'";
  return source;
}

enum class Scripts { kNone, kArmApprove };

void Secure(http::Response& res, std::string_view form_target, Scripts scripts = Scripts::kNone) {
  std::string form_action = "'self'";
  if (!form_target.empty()) form_action += " " + std::string(form_target);
  std::string script_src = scripts == Scripts::kArmApprove ? "; script-src " + ArmApproveSource() : "";
  res.set("Content-Security-Policy", "default-src 'none'; style-src 'self'" + script_src + "; form-action " +
                                         form_action + "; frame-ancestors 'none'; base-uri 'none'");
  res.set("X-Frame-Options", "DENY");
  // Not "no-referrer": under it browsers send `Origin: null` with the page's own forms, which the
  // same-origin check must refuse. "same-origin" still sends nothing to any other site.
  res.set("Referrer-Policy", "same-origin");
  res.set(bhttp::field::cache_control, "no-store");
}

http::Response Document(http::StatusCode status, std::string_view title, std::string_view body_html,
                        std::string_view form_target, std::string_view body_class, Scripts scripts = Scripts::kNone) {
  http::Response res(status, 11);
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  Secure(res, form_target, scripts);
  res.body() =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
      "content=\"width=device-width,initial-scale=1\"><title>" +
      Escape(title) + " · aipassport</title><link rel=\"stylesheet\" href=\"" + std::string(kStylesheetPath) +
      "\"></head><body" + (body_class.empty() ? std::string() : " class=\"" + std::string(body_class) + "\"") +
      ">" + std::string(body_html) + "</body></html>";
  res.prepare_payload();
  return res;
}

}  // namespace

http::Response Page(http::StatusCode status, std::string_view title, std::string_view body_html,
                    std::string_view form_target) {
  return Document(status, title, "<main>" + std::string(body_html) + "</main>", form_target, {});
}

http::Response ConsentPage(http::StatusCode status, std::string_view title, std::string_view body_html,
                           std::string_view form_target) {
  std::string script = "<script>" + std::string(kArmApproveScript) + "</script>";
  return Document(status, title, "<main>" + std::string(body_html) + script + "</main>", form_target, {},
                  Scripts::kArmApprove);
}

http::Response ConsolePage(http::StatusCode status, std::string_view title, std::string_view nav_html,
                           std::string_view body_html) {
  return Document(status, title, std::string(nav_html) + "<main>" + std::string(body_html) + "</main>", {}, "wide");
}

http::Response Stylesheet() {
  http::Response res(http::StatusCode::ok, 11);
  res.set(bhttp::field::content_type, "text/css; charset=utf-8");
  res.set(bhttp::field::cache_control, "public, max-age=31536000, immutable");
  res.set("X-Content-Type-Options", "nosniff");
  res.body() = std::string(kStyle);
  res.prepare_payload();
  return res;
}

http::Response SignInFirst(const http::Request& req, std::string_view session_cookie, std::string_view next) {
  std::string location = "/login?next=" + http::PercentEncode(next, "/");
  if (http::CookieConflicts(req, session_cookie))
    location += "&conflict=1";
  else if (http::CookieValue(req, session_cookie))
    location += "&ended=1";
  return SeeOther(location);
}

http::Response SeeOther(std::string_view location) {
  http::Response res(http::StatusCode::see_other, 11);
  res.set(bhttp::field::location, location);
  Secure(res, {});
  res.prepare_payload();
  return res;
}

}  // namespace ap::ui
