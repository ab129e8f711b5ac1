#include "api/auth.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "api/owner_session.hpp"
#include "crypto/hash.hpp"
#include "http/cookies.hpp"
#include "http/response.hpp"
#include "http/same_origin.hpp"

namespace ap::api {

namespace {

boost::asio::awaitable<Result<std::string>> OwnerTokenHash(BrokerContext& ctx) {
  if (!ctx.owner_token_hash_override.empty()) co_return ctx.owner_token_hash_override;
  auto read = [](store::Store& s) { return s.GetSetting(kOwnerTokenSetting); };
  auto stored = co_await OnStore(ctx, std::move(read));
  if (!stored) co_return stored.error();
  co_return stored->value_or("");
}

boost::asio::awaitable<Status> RequireAdminToken(BrokerContext& ctx, const http::Request& request,
                                                 std::string_view peer) {
  auto token = http::BearerToken(request);
  if (!token) co_return MakeError(Errc::kUnauthorized, "Owner credential required: " + token.error().message);
  auto attempt = ctx.throttles.owner_credentials.Begin(peer, MonotonicSeconds());
  if (attempt.Refused()) {
    Error busy = MakeError(Errc::kRateLimited, "Too many wrong owner credentials from this address; try again later");
    busy.retry_after_seconds = attempt.retry_after_seconds;
    co_return busy;
  }
  if (attempt.delay_millis > 0) {  // this address guessed: slow it, never refuse the right credential
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(attempt.delay_millis));
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  auto expected = co_await OwnerTokenHash(ctx);
  if (!expected) co_return expected.error();
  if (expected->empty() || !crypto::ConstantTimeEqual(crypto::Sha256Hex(*token), *expected)) {
    attempt.Failed();
    co_return MakeError(Errc::kUnauthorized, "Invalid owner credential");
  }
  co_return Status{};
}

// An RFC 9110 quoted-string; anything but printable ASCII becomes '?'.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') out += '\\';
    out += u < 0x20 || u >= 0x7f ? '?' : c;
  }
  return out + '"';
}

}  // namespace

void SetChallenge(http::Response& res, const BrokerContext& ctx, std::string_view target, TokenFault fault, bool dpop,
                  std::string_view description) {
  std::string metadata = ctx.public_url + std::string(kResourceMetadataPath);
  if (!ctx.resources.empty()) metadata = ResourceMetadataUrl(ctx.public_url, ResourceOf(ctx.resources, target));
  std::string challenge = (dpop ? "DPoP resource_metadata=" : "Bearer resource_metadata=") + Quoted(metadata);
  if (fault != TokenFault::kNone) {
    challenge += fault == TokenFault::kInvalidProof ? ", error=\"invalid_dpop_proof\"" : ", error=\"invalid_token\"";
    if (!description.empty()) challenge += ", error_description=" + Quoted(description);
  }
  if (dpop) challenge += ", algs=\"EdDSA Ed25519 ES256\"";
  res.set(http::bhttp::field::www_authenticate, challenge);
}

Status RequireSameOrigin(const BrokerContext& ctx, const http::Request& request) {
  if (auto reason = http::CrossOriginReason(request, ctx.tls, ctx.public_url))
    return MakeError(Errc::kForbidden, "Refused: " + *reason + "; nothing was changed");
  return {};
}

http::RouteHandler SameOriginOnly(const BrokerContext& ctx, http::RouteHandler handler) {
  return [&ctx, handler = std::move(handler)](http::Request& req, const http::PathParams& params,
                                               http::Exchange& exchange) -> boost::asio::awaitable<http::Response> {
    if (auto same = RequireSameOrigin(ctx, req); !same) co_return http::ErrorResponse(same.error());
    co_return co_await handler(req, params, exchange);
  };
}

boost::asio::awaitable<Result<Caller>> RequireOwner(BrokerContext& ctx, const http::Request& request,
                                                    std::string_view peer) {
  if (request.find(http::bhttp::field::authorization) != request.end() ||
      !http::CookieValue(request, SessionCookieName(ctx))) {
    if (auto admin = co_await RequireAdminToken(ctx, request, peer); !admin) co_return admin.error();
    co_return Caller{};
  }
  // Cookies ride along on a foreign page's requests; an Authorization header never does.
  if (auto same = RequireSameOrigin(ctx, request); !same) co_return same.error();
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
  return grant.status == store::GrantStatus::kPending;  // waiting for any owner to decide
}

}  // namespace ap::api
