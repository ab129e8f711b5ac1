#include "api/call_guard.hpp"

#include "http/response.hpp"

namespace ap::api {
using boost::asio::awaitable;

awaitable<Result<domain::Grant>> LoadGrant(BrokerContext& ctx, std::string id) {
  auto read = [id](store::Store& s) { return s.GetGrant(id); };
  auto record = co_await OnStore(ctx, std::move(read));
  if (!record) co_return record.error();
  co_return domain::GrantFromRecord(std::move(*record));
}

namespace {

// The cache first; on a miss, the store, and the cache learns the grant.
awaitable<Result<std::shared_ptr<const domain::Grant>>> CachedGrant(BrokerContext& ctx, const std::string& id) {
  if (auto hit = ctx.grants.Find(id)) co_return hit;
  auto grant = co_await LoadGrant(ctx, id);
  if (!grant) co_return grant.error();
  ctx.grants.Put(std::move(*grant));
  co_return ctx.grants.Find(id);
}

}  // namespace

awaitable<Result<std::shared_ptr<const domain::Grant>>> AuthorizeBearer(BrokerContext& ctx,
                                                                        const http::Request& request) {
  auto token = http::BearerToken(request);
  if (!token) co_return token.error();
  co_return co_await AuthorizeToken(ctx, *token);
}

awaitable<Result<std::shared_ptr<const domain::Grant>>> AuthorizeToken(BrokerContext& ctx, std::string_view token) {
  auto claims = ctx.tokens.Verify(token);
  if (!claims) co_return claims.error();
  auto grant = co_await CachedGrant(ctx, claims->grant_id);
  if (!grant) {
    if (grant.error().code == Errc::kNotFound) co_return MakeError(Errc::kUnauthorized, "Associated grant not found");
    co_return grant.error();
  }
  if (auto unusable = domain::UnusableReason((*grant)->record, ctx.clock())) co_return *unusable;
  co_return *grant;
}

Result<const proxy::ProviderEndpoint*> CheckScope(const BrokerContext& ctx, const domain::Grant& grant,
                                                  std::string_view capability, std::string_view model) {
  const domain::Scope& scope = grant.scope;
  if (!scope.AllowsCapability(capability))
    return MakeError(Errc::kForbidden, "This grant does not allow " + std::string(capability) + "; it allows " +
                                           (scope.capabilities.empty() ? std::string("nothing")
                                                                       : domain::JoinForHumans(scope.capabilities)));
  if (!scope.AllowsModel(model))
    return MakeError(Errc::kForbidden, "Model '" + std::string(model) + "' is not allowed by this grant; allowed: " +
                                           domain::JoinForHumans(scope.models));
  const proxy::ProviderEndpoint* endpoint = ctx.upstream.Table().Find(scope.provider);
  if (!endpoint) return MakeError(Errc::kUnavailable, "The broker does not serve provider '" + scope.provider + "'");
  if (auto key = ctx.upstream.RequireKey(*endpoint); !key) return key.error();
  return endpoint;
}

}  // namespace ap::api
