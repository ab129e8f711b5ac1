#pragma once
// The owner's pages: sign in (GET/POST /login), sign out (POST /logout) and the home page (GET /).
// Forms carry a CSRF token: before sign-in a random one also set as a SameSite=Strict cookie
// (double submit), after sign-in the session's own.

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::ui {

void AddOwnerPages(http::Router& router, api::BrokerContext& ctx);

}  // namespace ap::ui
