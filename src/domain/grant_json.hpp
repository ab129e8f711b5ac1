#pragma once
// The reference's JSON shapes for grants and grant requests.

#include <boost/json/object.hpp>

#include "domain/grant.hpp"

namespace ap::domain {

// `in_flight`: the grant's calls this broker is answering now. Empty text fields are left out.
boost::json::object GrantToJson(const Grant& grant, UnixSeconds now, int64_t in_flight);
// The budget in micro-USD: limit, settled spend, leased (taken by running brokers ahead of the calls
// they will admit: still spendable by the app, not calls in flight), lost to a broker that stopped
// without settling, and what remains (leases included).
boost::json::object BudgetToJson(const store::GrantRecord& grant);
// The request cap in the same terms, with the calls in flight on this broker.
boost::json::object RequestsToJson(const store::GrantRecord& grant, int64_t in_flight);
boost::json::object GrantRequestToJson(const store::GrantRequestRecord& request, const Scope& scope);

}  // namespace ap::domain
