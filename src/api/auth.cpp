#include "api/auth.hpp"

#include "api/owner_session.hpp"
#include "crypto/hash.hpp"
#include "http/cookies.hpp"
#include "http/response.hpp"

namespace ap::api {

namespace {

boost::asio::awaitable<Status> RequireAdminToken(BrokerContext& ctx, const http::Request& request) {
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

}  // namespace

boost::asio::awaitable<Result<Caller>> RequireOwner(BrokerContext& ctx, const http::Request& request) {
  if (request.find(http::bhttp::field::authorization) != request.end() ||
      !http::CookieValue(request, SessionCookieName(ctx))) {
    if (auto admin = co_await RequireAdminToken(ctx, request); !admin) co_return admin.error();
    co_return Caller{};
  }
  auto signed_in = co_await CurrentOwner(ctx, request);
  if (!signed_in) co_return signed_in.error();
  if (request.method() != http::Verb::get) {
    auto header = request.find("x-csrf-token");
    if (header == request.end() || !crypto::ConstantTimeEqual(header->value(), signed_in->session.csrf_token))
      co_return MakeError(Errc::kForbidden, "Missing or wrong X-CSRF-Token for this session");
  }
  co_return Caller{std::move(signed_in->owner)};
}

std::string ActingOwner(BrokerContext& ctx, const Caller& caller) {
  if (caller.IsAdmin()) return ctx.vault.OperatorId();
  ctx.vault.NoteOwner(*caller.owner);
  return caller.owner->id;
}

bool MayManage(const Caller& caller, const store::GrantRecord& grant) {
  if (caller.IsAdmin()) return true;
  if (grant.owner_id) return *grant.owner_id == caller.owner->id;
  return grant.status == store::GrantStatus::kPending;  // waiting for an owner to decide
}

}  // namespace ap::api
