#include "api/auth.hpp"

#include "crypto/hash.hpp"
#include "http/response.hpp"

namespace ap::api {

boost::asio::awaitable<Status> RequireOwner(BrokerContext& ctx, const http::Request& request) {
  auto token = http::BearerToken(request);
  if (!token) co_return MakeError(Errc::kUnauthorized, "Owner credential required: " + token.error().message);
  std::string presented = crypto::Sha256Hex(*token);
  std::string expected = ctx.owner_token_hash_override;
  if (expected.empty()) {
    auto read = [](store::Store& s) { return s.GetSetting(kOwnerTokenSetting); };
    auto stored = co_await OnStore(ctx, std::move(read));
    if (!stored) co_return stored.error();
    expected = stored->value_or("");
  }
  if (expected.empty() || !crypto::ConstantTimeEqual(presented, expected))
    co_return MakeError(Errc::kUnauthorized, "Invalid owner credential");
  co_return Status{};
}

}  // namespace ap::api
