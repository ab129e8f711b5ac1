#pragma once
// The reference's JSON shapes for grants and grant requests.

#include <boost/json/object.hpp>

#include "domain/grant.hpp"

namespace ap::domain {

boost::json::object GrantToJson(const Grant& grant, UnixSeconds now);
// The budget in micro-USD: limit, settled spend, held by running brokers for calls in flight,
// lost to a broker that stopped without settling, and what remains.
boost::json::object BudgetToJson(const store::GrantRecord& grant);
// The request cap in the same terms.
boost::json::object RequestsToJson(const store::GrantRecord& grant);
boost::json::object GrantRequestToJson(const store::GrantRequestRecord& request, const Scope& scope);

}  // namespace ap::domain
