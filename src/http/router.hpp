#pragma once
// Maps a method and a path to a handler. Patterns are literal segments and `:name` parameters
// ("/grants/:id/approve"). A path that matches no pattern is 404; one that matches a pattern under
// another method is 405 with an Allow list. Where several patterns match, the one added first wins.
// A lookup splits the path once, without allocating, and looks only at the routes filed under its
// first segment (and those whose first segment is a parameter), not at every route.
// Thread-safety: build it before serving, then it is read-only.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/exchange.hpp"
#include "http/message.hpp"

namespace ap::http {

class PathParams {
 public:
  static constexpr size_t kMax = 8;  // parameters in one pattern

  void Add(std::string_view name, std::string_view value) {
    if (size_ < kMax) items_[size_++] = {name, value};
  }
  // The value of `:name`; empty if the pattern has no such parameter.
  std::string_view Get(std::string_view name) const;

 private:
  std::array<std::pair<std::string_view, std::string_view>, kMax> items_;
  size_t size_ = 0;
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
  static constexpr size_t kMaxSegments = 16;  // in one pattern; a longer path matches nothing

  // Throws std::invalid_argument for a pattern over kMaxSegments segments or PathParams::kMax parameters.
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
  // Whether the route Find picks for this request leaves its body on the wire. Looks at streamed
  // routes only, so the common request does not pay for a second full match.
  bool StreamsBody(Verb method, std::string_view path) const;

 private:
  struct Route {
    Verb method;
    std::vector<std::string> segments;
    RouteHandler handler;
    std::string pattern;
    bool streamed = false;
  };
  struct Parts {
    std::array<std::string_view, kMaxSegments> items;
    size_t size = 0;
    bool too_many = false;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  static Parts Split(std::string_view path);
  static bool Matches(const Route& route, const Parts& parts, PathParams* params);
  // Calls `fn(route)` for each route that may match `parts`, in the order they were added, until it returns true.
  template <class Fn>
  void ForEachCandidate(const Parts& parts, Fn fn) const;

  std::vector<Route> routes_;
  // Indexes of routes, in order, by their literal first segment; and those whose first segment is a parameter.
  std::unordered_map<std::string, std::vector<size_t>, Hash, std::equal_to<>> by_first_;
  std::vector<size_t> parameter_first_;
  std::vector<size_t> streamed_;  // the routes whose bodies are streamed, in the order they were added
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
