#include "api/grant_changes.hpp"

namespace ap::api {

boost::asio::awaitable<Result<domain::Grant>> ChangeGrant(BrokerContext& ctx, std::string id, Caller caller,
                                                          GrantChange change) {
  auto clock = ctx.clock;
  auto apply = [id, caller, change, clock](store::Store& s) -> Result<store::GrantRecord> {
    auto g = s.GetGrant(id);
    if (!g) return g.error();
    if (!MayManage(caller, *g)) return MakeError(Errc::kNotFound, "Grant not found");
    store::GrantStatus before = g->status;
    if (auto ok = change(*g, clock()); !ok) return ok.error();
    if (g->status == before) return g;
    return s.UpdateGrant(*g);
  };
  auto updated = co_await OnStore(ctx, std::move(apply));
  if (!updated) co_return updated.error();
  auto grant = domain::GrantFromRecord(std::move(*updated));
  if (!grant) co_return grant.error();
  ctx.grants.Put(*grant);
  co_return std::move(*grant);
}

}  // namespace ap::api
