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

// A page like Page that runs one script, inline after `body_html` and allowed by its hash: its
// Approve button counts only once the page's window has been in front for a moment and the person
// has moved the pointer or pressed a key in it (html.cpp: kArmApproveScript).
http::Response ConsentPage(http::StatusCode status, std::string_view title, std::string_view body_html,
                           std::string_view form_target);

// A signed-in owner's page: `nav_html` above a wide main column holding `body_html`.
http::Response ConsolePage(http::StatusCode status, std::string_view title, std::string_view nav_html,
                           std::string_view body_html);

// Where every page's stylesheet is: versioned, so it can be cached for a year.
inline constexpr std::string_view kStylesheetPath = "/static/console.css?v=3";
// GET /static/console.css: the stylesheet, cacheable for a year.
http::Response Stylesheet();

// A 303 to `location` (a local path).
http::Response SeeOther(std::string_view location);
// A 303 to the sign-in page, which leads back to `next` (a local path): saying the session ended
// when the browser still sent one (`session_cookie`), and that two were sent, one perhaps planted by
// another site on the host, when they conflict (the page then signs nobody in until they are
// cleared: sent back to `next` at once, the browser would come straight back).
http::Response SignInFirst(const http::Request& req, std::string_view session_cookie, std::string_view next);

}  // namespace ap::ui
