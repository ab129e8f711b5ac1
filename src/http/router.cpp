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
  Route r{method, {}, std::move(handler), pattern};
  for (auto s : Split(pattern)) r.segments.emplace_back(s);
  if (body == Body::kStreamed) streamed_.push_back(routes_.size());
  routes_.push_back(std::move(r));
}

bool Router::Wrap(Verb method, std::string_view pattern, const std::function<RouteHandler(RouteHandler)>& wrap) {
  auto segments = Split(pattern);
  for (auto& route : routes_) {
    if (route.method != method || route.segments.size() != segments.size()) continue;
    if (!std::equal(segments.begin(), segments.end(), route.segments.begin())) continue;
    route.handler = wrap(std::move(route.handler));
    return true;
  }
  return false;
}

bool Router::Matches(const Route& route, const std::vector<std::string_view>& parts, PathParams* params) {
  if (route.segments.size() != parts.size()) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& seg = route.segments[i];
    if (!seg.empty() && seg.front() == ':') {
      if (parts[i].empty()) return false;
      if (params) params->Add(std::string_view(seg).substr(1), parts[i]);
    } else if (seg != parts[i]) {
      return false;
    }
  }
  return true;
}

bool Router::StreamsBody(Verb method, std::string_view path) const {
  if (streamed_.empty()) return false;
  auto parts = Split(path);
  for (size_t i : streamed_)
    if (routes_[i].method == method && Matches(routes_[i], parts, nullptr)) return true;
  return false;
}

Router::Match Router::Find(Verb method, std::string_view path) const {
  Match match;
  auto parts = Split(path);
  for (const auto& route : routes_) {
    PathParams params;
    if (!Matches(route, parts, &params)) continue;
    if (route.method == method) {
      match.handler = &route.handler;
      match.params = std::move(params);
      match.pattern = route.pattern;
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
