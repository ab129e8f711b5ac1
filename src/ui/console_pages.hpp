#pragma once
// The owner's console, server-rendered and usable without JavaScript:
//   GET /static/console.css      the one stylesheet (cached for a year under a versioned URL)
//   GET /                        home: waiting requests, active grants (spend of budget as a <meter>,
//                                requests of cap, rate, expiry, last use), finished grants collapsed
//   GET /grants/:id              for a browser (Accept: text/html) the grant's page; API clients
//                                keep getting the JSON they always got on the same path
//   POST /console/grants/:id/limits   change its limits or shorten its life (form kept on error)
//   GET|POST /console/grants/:id/revoke  a confirmation of its own, then revoke
//   GET /activity, /keys, /audit for a browser: pages over the same data as the JSON API;
//   POST /console/keys, /console/keys/:id/remove  add and remove a key from the Keys page
//   GET /console/activity.csv, .jsonl  the call log as a download
// Every POST goes through api::SameOriginOnly and carries the session's CSRF token. A request
// whose session ended is sent to sign in again and brought back to the page it was on.
// Must be added after the API routes whose paths it shares (it wraps their GET handlers).

#include "api/broker_context.hpp"
#include "http/router.hpp"

namespace ap::ui {

void AddConsolePages(http::Router& router, api::BrokerContext& ctx);

// Whether the request is a browser's navigation (it accepts text/html), not an API client's.
bool WantsPage(const http::Request& req);

}  // namespace ap::ui
