#pragma once
// Maps a method and a path to a handler. Patterns are literal segments and `:name` parameters
// ("/grants/:id/approve"). A path that matches no pattern is 404; one that matches a pattern under
// another method is 405 with an Allow list.
// Thread-safety: build it before serving, then it is read-only.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// What the server calls for every request it has read.
using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;
using RouteHandler = std::function<boost::asio::awaitable<Response>(Request&, const PathParams&)>;

class Router {
 public:
  void Add(Verb method, std::string pattern, RouteHandler handler);

  struct Match {
    const RouteHandler* handler = nullptr;  // null: see allowed
    PathParams params;
    std::vector<Verb> allowed;  // when the path exists under other methods only
  };
  // `path` must not contain the query string. Params view `path` and the router's patterns.
  Match Find(Verb method, std::string_view path) const;

 private:
  struct Route {
    Verb method;
    std::vector<std::string> segments;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

// "/a/b?x=1" -> "/a/b"
std::string_view PathOf(std::string_view target);

}  // namespace ap::http
