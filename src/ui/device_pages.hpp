#pragma once
// /device: where a signed-in owner types the code a CLI or agent shows (RFC 8628); the request it
// belongs to then waits on the usual consent screen, which names the requesting app. Wrong codes
// are throttled like failed sign-ins.

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::ui {

void AddDevicePages(http::Router& router, api::BrokerContext& ctx);

}  // namespace ap::ui
