#pragma once
// The HTTP message types shared by the server, the router, the handlers and the upstream client.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace ap::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;
using RequestHead = bhttp::request_header<>;  // a Request is one too
using StatusCode = bhttp::status;
using Verb = bhttp::verb;

}  // namespace ap::http
