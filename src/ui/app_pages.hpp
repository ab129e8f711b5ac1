#pragma once
// Registering apps from a page (GET/POST /apps), as `aipassport client add` does from the shell:
// a signed-in owner sees the registered apps and registers a new one; a confidential app's secret
// is shown once, on the page that answers the registration.

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::ui {

void AddAppPages(http::Router& router, api::BrokerContext& ctx);

}  // namespace ap::ui
