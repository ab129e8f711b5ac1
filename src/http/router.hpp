#pragma once
// Maps a method and a path to a handler. Patterns are literal segments and `:name` parameters
// ("/grants/:id/approve"). A path that matches no pattern is 404; one that matches a pattern under
// another method is 405 with an Allow list.
// Thread-safety: build it before serving, then it is read-only.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/exchange.hpp"
#include "http/message.hpp"

namespace ap::http {

class PathParams {
 public:
  void Add(std::string_view name, std::string_view value) { items_.emplace_back(name, value); }
  // The value of `:name`; empty if the pattern has no such parameter.
  std::string_view Get(std::string_view name) const;

 private:
  std::vector<std::pair<std::string_view, std::string_view>> items_;
};

// What the server calls for every request. The request holds its whole body, unless the handler's
// route streams its body (then read it from the exchange).
using Handler = std::function<boost::asio::awaitable<Response>(Request&, Exchange&)>;
using RouteHandler = std::function<boost::asio::awaitable<Response>(Request&, const PathParams&, Exchange&)>;
// Whether a request (its head only, body not yet read) wants its body left on the wire.
using StreamsBody = std::function<bool(const RequestHead& head)>;

enum class Body { kWhole, kStreamed };

class Router {
 public:
  void Add(Verb method, std::string pattern, RouteHandler handler, Body body = Body::kWhole);
  // Replaces the handler of the route added with exactly this method and pattern by
  // `wrap(old handler)`, so that one path can answer two audiences (a page for browsers, JSON for
  // API clients) from separate modules. False when there is no such route.
  bool Wrap(Verb method, std::string_view pattern, const std::function<RouteHandler(RouteHandler)>& wrap);

  struct Match {
    const RouteHandler* handler = nullptr;  // null: see allowed
    PathParams params;
    std::vector<Verb> allowed;  // when the path exists under other methods only
    std::string_view pattern;   // the matched route's pattern ("/grants/:id"), for logs and metrics
  };
  // `path` must not contain the query string. Params view `path` and the router's patterns.
  Match Find(Verb method, std::string_view path) const;
  // Whether the route for this request leaves its body on the wire. Looks at streamed routes only,
  // so the common request does not pay for a second full match.
  bool StreamsBody(Verb method, std::string_view path) const;

 private:
  struct Route {
    Verb method;
    std::vector<std::string> segments;
    RouteHandler handler;
    std::string pattern;
  };
  static bool Matches(const Route& route, const std::vector<std::string_view>& parts, PathParams* params);

  std::vector<Route> routes_;
  std::vector<size_t> streamed_;  // indexes of the routes added with Body::kStreamed
};

// A route handler that calls `Method` of `object` (shared, so it lives as long as the routes).
template <auto Method, class T>
RouteHandler BindMethod(std::shared_ptr<T> object) {
  return [object](Request& req, const PathParams& params, Exchange& exchange) {
    return ((*object).*Method)(req, params, exchange);
  };
}

// "/a/b?x=1" -> "/a/b"
std::string_view PathOf(std::string_view target);

}  // namespace ap::http
