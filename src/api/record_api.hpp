#pragma once
// The owner's record over HTTP: GET /activity, GET /grants/:id/activity and GET /audit. A signed-in
// owner sees their own grants' calls and the audit records that concern them; the owner token
// (the admin) sees everything. Pages of {items, next}: pass `next` back as `cursor`.

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::api {

void AddRecordRoutes(http::Router& router, BrokerContext& ctx);

}  // namespace ap::api
