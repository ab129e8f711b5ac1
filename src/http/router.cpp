#include "http/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace ap::http {

std::string_view PathParams::Get(std::string_view name) const {
  for (size_t i = 0; i < size_; ++i)
    if (items_[i].first == name) return items_[i].second;
  return {};
}

Router::Parts Router::Split(std::string_view path) {
  Parts out;
  size_t i = 0;
  if (!path.empty() && path.front() == '/') i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (out.size == kMaxSegments) {
      out.too_many = true;
      return out;
    }
    out.items[out.size++] = path.substr(i, j - i);
    i = j + 1;
  }
  return out;
}

void Router::Add(Verb method, std::string pattern, RouteHandler handler, Body body) {
  Parts parts = Split(pattern);
  if (parts.too_many) throw std::invalid_argument("route pattern has too many segments: " + pattern);
  Route r{method, {}, std::move(handler), pattern, body == Body::kStreamed};
  size_t params = 0;
  for (size_t i = 0; i < parts.size; ++i) {
    r.segments.emplace_back(parts.items[i]);
    if (parts.items[i].starts_with(':')) ++params;
  }
  if (params > PathParams::kMax) throw std::invalid_argument("route pattern has too many parameters: " + pattern);
  const std::string& first = r.segments.front();
  if (!first.empty() && first.front() == ':')
    parameter_first_.push_back(routes_.size());
  else
    by_first_[first].push_back(routes_.size());
  if (r.streamed) streamed_.push_back(routes_.size());
  routes_.push_back(std::move(r));
}

bool Router::Wrap(Verb method, std::string_view pattern, const std::function<RouteHandler(RouteHandler)>& wrap) {
  Parts parts = Split(pattern);
  if (parts.too_many) return false;  // no route is that long
  for (auto& route : routes_) {
    if (route.method != method || route.segments.size() != parts.size) continue;
    if (!std::equal(route.segments.begin(), route.segments.end(), parts.items.begin())) continue;
    route.handler = wrap(std::move(route.handler));
    return true;
  }
  return false;
}

bool Router::Matches(const Route& route, const Parts& parts, PathParams* params) {
  if (route.segments.size() != parts.size) return false;
  for (size_t i = 0; i < parts.size; ++i) {
    const std::string& seg = route.segments[i];
    if (!seg.empty() && seg.front() == ':') {
      if (parts.items[i].empty()) return false;
      if (params) params->Add(std::string_view(seg).substr(1), parts.items[i]);
    } else if (seg != parts.items[i]) {
      return false;
    }
  }
  return true;
}

template <class Fn>
void Router::ForEachCandidate(const Parts& parts, Fn fn) const {
  if (parts.too_many || parts.size == 0) return;
  static const std::vector<size_t> kNone;
  auto it = by_first_.find(parts.items[0]);
  const std::vector<size_t>& literal = it == by_first_.end() ? kNone : it->second;
  // Both lists are in the order routes were added: merged, they keep it.
  size_t a = 0, b = 0;
  while (a < literal.size() || b < parameter_first_.size()) {
    bool take_literal = b == parameter_first_.size() || (a < literal.size() && literal[a] < parameter_first_[b]);
    size_t index = take_literal ? literal[a++] : parameter_first_[b++];
    if (fn(routes_[index])) return;
  }
}

bool Router::StreamsBody(Verb method, std::string_view path) const {
  // A few routes (uploads) among many: only they are tried, without looking the path's first
  // segment up. Find takes the first route added that matches, so a streamed one that matches
  // counts only if no route of the method added before it matches too.
  if (streamed_.empty()) return false;
  Parts parts = Split(path);
  if (parts.too_many) return false;
  auto matches = [&](const Route& route) { return route.method == method && Matches(route, parts, nullptr); };
  for (size_t index : streamed_)
    if (matches(routes_[index]))
      return std::none_of(routes_.begin(), routes_.begin() + static_cast<ptrdiff_t>(index), matches);
  return false;
}

Router::Match Router::Find(Verb method, std::string_view path) const {
  Match match;
  Parts parts = Split(path);
  ForEachCandidate(parts, [&](const Route& route) {
    PathParams params;
    if (!Matches(route, parts, &params)) return false;
    if (route.method == method) {
      match.handler = &route.handler;
      match.params = params;
      match.pattern = route.pattern;
      return true;
    }
    if (std::find(match.allowed.begin(), match.allowed.end(), route.method) == match.allowed.end())
      match.allowed.push_back(route.method);
    return false;
  });
  return match;
}

std::string_view PathOf(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

}  // namespace ap::http
