#pragma once
// Server-rendered pages: every piece of text that did not come from this file goes through
// Escape; every page carries headers that keep it out of frames and other origins' reach.

#include <string>
#include <string_view>

#include "http/message.hpp"

namespace ap::ui {

// `text` safe to place in HTML text and in quoted attribute values.
std::string Escape(std::string_view text);

// A whole page with the given title (escaped here) and body (already HTML).
// `form_target`: an origin the page's forms may end up at besides this one (after a redirect).
http::Response Page(http::StatusCode status, std::string_view title, std::string_view body_html,
                    std::string_view form_target = {});

// A page like Page that runs the consent page's script (kConsentScriptPath), and no other: its
// Approve button works only once the page's window has had the focus for a moment.
http::Response ConsentPage(http::StatusCode status, std::string_view title, std::string_view body_html,
                           std::string_view form_target);

// A signed-in owner's page: `nav_html` above a wide main column holding `body_html`.
http::Response ConsolePage(http::StatusCode status, std::string_view title, std::string_view nav_html,
                           std::string_view body_html);

// Where every page's stylesheet is: versioned, so it can be cached for a year.
inline constexpr std::string_view kStylesheetPath = "/static/console.css?v=2";
// GET /static/console.css: the stylesheet, cacheable for a year.
http::Response Stylesheet();
// Where the consent page's script is, versioned as the stylesheet.
inline constexpr std::string_view kConsentScriptPath = "/static/consent.js?v=1";
// GET /static/consent.js: that script, cacheable for a year.
http::Response ConsentScript();

// A 303 to `location` (a local path).
http::Response SeeOther(std::string_view location);

}  // namespace ap::ui
