#pragma once
// The AIPassport v0.2 reference API, with its flaws fixed: owner endpoints need the owner's
// credential, POST /tokens needs the request secret, the proxy forwards whole requests and
// checks the cap atomically before calling upstream.

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::api {

void AddReferenceRoutes(http::Router& router, BrokerContext& ctx);

}  // namespace ap::api
