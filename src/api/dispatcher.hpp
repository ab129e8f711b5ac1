#pragma once
// The broker's HTTP front: routing, CORS and security headers on every answer (streamed ones
// included), 404/405 in JSON, a 500 that says nothing of an escaped exception's cause, and the
// access log: one line per request, under the id returned as x-request-id.

#include "http/router.hpp"

namespace ap::api {

http::Handler MakeDispatcher(const http::Router& router);
// Which requests leave their body on the wire: those whose route was added with Body::kStreamed.
http::StreamsBody MakeBodyPolicy(const http::Router& router);

}  // namespace ap::api
