#pragma once
// The reference's JSON shapes for grants and grant requests.

#include <boost/json/object.hpp>

#include "domain/grant.hpp"

namespace ap::domain {

boost::json::object GrantToJson(const Grant& grant, UnixSeconds now);
boost::json::object GrantRequestToJson(const store::GrantRequestRecord& request, const Scope& scope);

}  // namespace ap::domain
