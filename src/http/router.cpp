#include "http/router.hpp"

#include <algorithm>

namespace ap::http {
namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  if (!path.empty() && path.front() == '/') i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

std::string_view PathParams::Get(std::string_view name) const {
  for (const auto& [k, v] : items_)
    if (k == name) return v;
  return {};
}

void Router::Add(Verb method, std::string pattern, RouteHandler handler, Body body) {
  Route r{method, {}, std::move(handler), body};
  for (auto s : Split(pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

Router::Match Router::Find(Verb method, std::string_view path) const {
  Match match;
  auto parts = Split(path);
  for (const auto& route : routes_) {
    if (route.segments.size() != parts.size()) continue;
    PathParams params;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      const std::string& seg = route.segments[i];
      if (!seg.empty() && seg.front() == ':') {
        ok = !parts[i].empty();
        params.Add(std::string_view(seg).substr(1), parts[i]);
      } else {
        ok = seg == parts[i];
      }
    }
    if (!ok) continue;
    if (route.method == method) {
      match.handler = &route.handler;
      match.body = route.body;
      match.params = std::move(params);
      return match;
    }
    if (std::find(match.allowed.begin(), match.allowed.end(), route.method) == match.allowed.end())
      match.allowed.push_back(route.method);
  }
  return match;
}

std::string_view PathOf(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

}  // namespace ap::http
