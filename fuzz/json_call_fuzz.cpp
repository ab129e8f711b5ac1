// The request-body scanner: an app's JSON body read for policy (model, stream, limits) without
// being built, and the body the broker sends on with its additions spliced in. The first byte
// picks the endpoint; the rest is the body.
// Promises checked: the scan accepts exactly what boost::json::parse accepts (keeping all of it or
// none) and keeps the same value; a body sent on is still JSON.

#include <boost/json.hpp>
#include <cmath>
#include <string>

#include "fuzz_input.hpp"
#include "proxy/endpoints.hpp"
#include "proxy/json_call.hpp"
#include "proxy/json_scan.hpp"

namespace {

// Value equality in which NaN equals NaN: boost::json reads "0e500" as 0 * inf.
bool Same(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double() && std::isnan(a.get_double()) && std::isnan(b.get_double())) return true;
  if (a.is_object() && b.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& [key, value] : x)
      if (const auto* other = y.if_contains(key); !other || !Same(value, *other)) return false;
    return true;
  }
  if (a.is_array() && b.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!Same(x[i], y[i])) return false;
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  if (size == 0) return 0;
  std::string_view body = fuzz::Text(data + 1, size - 1);

  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(body, ec);
  static constexpr proxy::ScanRule kAll{proxy::ScanKeep::kAll};
  auto scan = proxy::ScanJson(body, kAll, proxy::Duplicates::kLastWins);
  if (scan.valid != !ec) fuzz::Broken("the scan accepts what boost::json::parse accepts");
  if (scan.valid && !Same(scan.value, parsed)) fuzz::Broken("the scan keeps the value the full parse builds");
  // Keeping nothing, the walk checks the strings inside what it drops without unescaping them.
  static constexpr proxy::ScanRule kNone{proxy::ScanKeep::kSelect};
  if (proxy::ScanJson(body, kNone, proxy::Duplicates::kLastWins).valid != !ec)
    fuzz::Broken("the scan that keeps nothing accepts what boost::json::parse accepts");
  if (scan.valid) {
    size_t first = proxy::FirstValue(body);
    if (parsed.is_object())
      for (const auto& member : proxy::ObjectMembers(body, first)) {
        (void)proxy::MemberName(member);
        if (member.value_begin > member.value_end || member.value_end > body.size())
          fuzz::Broken("a member lies inside the text");
      }
    if (parsed.is_array())
      for (auto [begin, end] : proxy::ArrayElements(body, first))
        if (begin > end || end > body.size()) fuzz::Broken("an element lies inside the text");
  }

  auto endpoints = proxy::NativeEndpoints();
  const proxy::NativeEndpoint& ep = endpoints[data[0] % endpoints.size()];
  auto call = proxy::ReadJsonCall(ep, std::string(body), (data[0] & 0x80) != 0);
  if (call && call->body != body) {
    (void)boost::json::parse(call->body, ec);
    if (ec) fuzz::Broken("a body the broker changed is still JSON");
  }
  return 0;
}
