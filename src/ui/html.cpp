#include "ui/html.hpp"

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

constexpr std::string_view kStyle =
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f}"
    "label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}.error{color:#b00020}"
    ".warning{color:#8a4b00;background:#fff4e0;padding:.5rem}.domain{font-size:2rem;font-weight:bold;margin:.2rem 0}"
    ".badge,.unverified{background:#b00020;color:#fff;padding:.1rem .4rem;border-radius:.2rem;font-size:.8em}";

void Secure(http::Response& res, std::string_view form_target) {
  std::string form_action = "'self'";
  if (!form_target.empty()) form_action += " " + std::string(form_target);
  res.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action " + form_action +
                                         "; frame-ancestors 'none'; base-uri 'none'");
  res.set("X-Frame-Options", "DENY");
  // Not "no-referrer": under it browsers send `Origin: null` with the page's own forms, which the
  // same-origin check must refuse. "same-origin" still sends nothing to any other site.
  res.set("Referrer-Policy", "same-origin");
  res.set(bhttp::field::cache_control, "no-store");
}

}  // namespace

http::Response Page(http::StatusCode status, std::string_view title, std::string_view body_html,
                    std::string_view form_target) {
  http::Response res(status, 11);
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  Secure(res, form_target);
  res.body() =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
      "content=\"width=device-width\"><title>" +
      Escape(title) + " · aipassport</title><style>" + std::string(kStyle) + "</style></head><body>" +
      std::string(body_html) + "</body></html>";
  res.prepare_payload();
  return res;
}

http::Response SeeOther(std::string_view location) {
  http::Response res(http::StatusCode::see_other, 11);
  res.set(bhttp::field::location, location);
  Secure(res, {});
  res.prepare_payload();
  return res;
}

}  // namespace ap::ui
