#pragma once
// The consent screen: GET /consent/:id shows a waiting request (the app's name, home page and its
// host, the reason, and what it asks for in plain words) and lets the signed-in owner narrow it
// (untick models or capabilities, lower the budget, the request cap, the rate, choose the
// lifetime) before approving, or deny it. POST /consent/:id also revokes an approved grant.
// Everything shown is escaped; forms carry the session's CSRF token; nothing can be widened.

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::ui {

void AddConsentPages(http::Router& router, api::BrokerContext& ctx);

}  // namespace ap::ui
