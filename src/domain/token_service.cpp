#include "domain/token_service.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "core/ids.hpp"
#include "crypto/jws.hpp"

namespace ap::domain {
namespace {

Error Refuse(std::string message) { return MakeError(Errc::kUnauthorized, std::move(message)); }

// A NumericDate (RFC 7519 §2) within 2^53 seconds of 1970: beyond it a double cannot be cast to
// int64 safely and adding the leeway could overflow; such a date is no date.
std::optional<int64_t> NumericDate(const boost::json::object& claims, std::string_view name) {
  constexpr int64_t kMost = int64_t{1} << 53;
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  const auto& v = it->value();
  if (v.is_int64() && v.get_int64() >= -kMost && v.get_int64() <= kMost) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(kMost)) return static_cast<int64_t>(v.get_uint64());
  if (v.is_double() && std::abs(v.get_double()) <= static_cast<double>(kMost))
    return static_cast<int64_t>(v.get_double());
  return std::nullopt;
}

const boost::json::string* StringMember(const boost::json::object& o, std::string_view name) {
  auto it = o.find(name);
  return it != o.end() && it->value().is_string() ? &it->value().get_string() : nullptr;
}

// The token's audiences, when `aud` is a string or an array of strings.
std::optional<std::vector<std::string>> Audiences(const boost::json::object& claims) {
  auto it = claims.find("aud");
  if (it == claims.end()) return std::nullopt;
  if (it->value().is_string()) return std::vector<std::string>{std::string(it->value().get_string())};
  if (!it->value().is_array() || it->value().get_array().empty()) return std::nullopt;
  std::vector<std::string> audiences;
  for (const auto& a : it->value().get_array()) {
    if (!a.is_string()) return std::nullopt;
    audiences.emplace_back(a.get_string());
  }
  return audiences;
}

}  // namespace

TokenService::TokenService(std::shared_ptr<const crypto::SigningKeyRing> keys, TokenSettings settings, Clock clock)
    : keys_(std::move(keys)), settings_(std::move(settings)), clock_(std::move(clock)) {}

void TokenService::SetKeys(std::shared_ptr<const crypto::SigningKeyRing> keys) {
  keys_.store(std::move(keys));
  ring_.fetch_add(1, std::memory_order_release);  // after the store: a token verified since is tagged anew
}

void TokenService::SetIdentity(std::string issuer, std::vector<std::string> resources) {
  settings_.issuer = std::move(issuer);
  settings_.resources = std::move(resources);
}

AccessToken TokenService::Issue(const std::string& grant_id, std::optional<UnixSeconds> not_after,
                                std::string_view client_id, std::string_view jkt,
                                const std::vector<std::string>& resources,
                                const std::vector<std::string>& actors) const {
  auto keys = keys_.load();
  const auto& key = keys->Current();
  AccessToken t;
  t.jti = RandomUuid();
  t.issued_at = clock_();
  t.expires_at = t.issued_at + settings_.ttl_seconds;
  if (not_after && *not_after < t.expires_at) t.expires_at = *not_after;
  boost::json::object header{{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", key.kid}};
  boost::json::value aud = boost::json::string(settings_.audience);
  if (resources.size() == 1) aud = boost::json::string(resources.front());
  if (resources.size() > 1) aud = boost::json::array(resources.begin(), resources.end());
  boost::json::object claims{{"iss", settings_.issuer}, {"sub", grant_id},    {"aud", std::move(aud)},
                             {"gid", grant_id},         {"jti", t.jti},       {"iat", t.issued_at},
                             {"nbf", t.issued_at},      {"exp", t.expires_at}};
  if (!client_id.empty()) claims["client_id"] = client_id;
  if (!jkt.empty()) claims["cnf"] = boost::json::object{{"jkt", jkt}};
  boost::json::object act;  // built from the oldest actor in: each earlier one nests inside
  for (auto it = actors.rbegin(); it != actors.rend(); ++it) {
    boost::json::object outer{{"sub", *it}};
    if (!client_id.empty()) outer["client_id"] = client_id;
    if (!act.empty()) outer["act"] = std::move(act);
    act = std::move(outer);
  }
  if (!act.empty()) claims["act"] = std::move(act);
  t.token = crypto::SignCompactJws(boost::json::serialize(header), boost::json::serialize(claims), key.key);
  return t;
}

Result<std::shared_ptr<const TokenClaims>> TokenService::Verify(std::string_view token) const {
  UnixSeconds now = clock_();
  size_t hash = TokenHash{}(token);
  // Read before the keys are: a ring replaced meanwhile leaves this token tagged with the old one.
  uint64_t ring = ring_.load(std::memory_order_acquire);
  if (auto cached = FindCached(token, hash, now, ring)) return cached;
  auto claims = VerifyUncached(token, now);
  if (!claims) return claims.error();
  auto shared = std::make_shared<const TokenClaims>(std::move(*claims));
  Remember(token, hash, shared, now, ring);
  return shared;
}

Result<TokenClaims> TokenService::VerifyUncached(std::string_view token, UnixSeconds now) const {
  auto jws = crypto::ParseCompactJws(token);
  if (!jws) return Refuse("Invalid token: " + jws.error().message);
  const auto& header = jws->header;
  const auto* alg = StringMember(header, "alg");
  if (!alg || *alg != "EdDSA") return Refuse("Invalid token: only alg EdDSA is accepted");
  const auto* typ = StringMember(header, "typ");
  if (!typ || (*typ != "at+jwt" && *typ != "application/at+jwt")) return Refuse("Invalid token: typ must be at+jwt");
  if (header.contains("crit")) return Refuse("Invalid token: unsupported critical header");
  const auto* kid = StringMember(header, "kid");
  auto keys = keys_.load();
  const crypto::SigningKey* key = kid ? keys->Find(*kid) : nullptr;
  if (!key) return Refuse("Invalid token: unknown signing key");
  if (!key->key.Verify(jws->signing_input, jws->signature)) return Refuse("Invalid token: bad signature");

  boost::system::error_code ec;
  boost::json::value payload = boost::json::parse(jws->payload, ec);
  if (ec || !payload.is_object()) return Refuse("Invalid token: claims are not a JSON object");
  const auto& claims = payload.get_object();
  const auto* iss = StringMember(claims, "iss");
  if (!iss || *iss != settings_.issuer) return Refuse("Invalid token: wrong issuer");
  // Only the audiences that name this broker count; a token naming none of them is not for it.
  auto audiences = Audiences(claims);
  if (audiences)
    std::erase_if(*audiences, [this](const std::string& a) {
      return a != settings_.audience &&
             std::find(settings_.resources.begin(), settings_.resources.end(), a) == settings_.resources.end();
    });
  if (!audiences || audiences->empty()) return Refuse("Invalid token: wrong audience");
  auto exp = NumericDate(claims, "exp");
  auto iat = NumericDate(claims, "iat");
  auto nbf = NumericDate(claims, "nbf");
  if (!exp || !iat) return Refuse("Invalid token: exp and iat are required");
  if (*exp + settings_.leeway_seconds <= now) return Refuse("Token expired");
  if (nbf && *nbf > now + settings_.leeway_seconds) return Refuse("Token is not valid yet");
  if (*iat > now + settings_.leeway_seconds) return Refuse("Invalid token: issued in the future");
  const auto* gid = StringMember(claims, "gid");
  const auto* jti = StringMember(claims, "jti");
  if (!gid || !jti) return Refuse("Invalid token: gid and jti are required");
  const auto* client_id = StringMember(claims, "client_id");
  std::string jkt;
  if (const auto* cnf = claims.if_contains("cnf")) {
    const auto* bound = cnf->is_object() ? StringMember(cnf->get_object(), "jkt") : nullptr;
    if (!bound || bound->empty()) return Refuse("Invalid token: cnf must name a jkt");
    jkt = *bound;
  }
  return TokenClaims{std::string(*gid), std::string(*jti), *iat, *exp, client_id ? std::string(*client_id) : "", jkt,
                     std::move(*audiences)};
}

TokenService::Claims TokenService::FindCached(std::string_view token, size_t hash, UnixSeconds now,
                                              uint64_t ring) const {
  Shard& shard = ShardOf(hash);
  std::lock_guard lock(shard.mutex);
  auto it = shard.verified.find(token);
  if (it == shard.verified.end()) return nullptr;
  // Judged against the clock as it is now, as an uncached token is: one issued "in the future"
  // (the clock was set back since) is checked again and refused. One verified under keys since
  // replaced is checked again too: its key may have been dropped.
  const TokenClaims& claims = *it->second.claims;
  if (it->second.ring != ring || claims.expires_at + settings_.leeway_seconds <= now ||
      claims.issued_at > now + settings_.leeway_seconds) {
    shard.verified.erase(it);
    return nullptr;
  }
  return it->second.claims;
}

void TokenService::Remember(std::string_view token, size_t hash, const Claims& claims, UnixSeconds now,
                            uint64_t ring) const {
  Shard& shard = ShardOf(hash);
  std::lock_guard lock(shard.mutex);
  if (shard.verified.size() >= kMaxPerShard) {
    std::erase_if(shard.verified,
                  [&](const auto& e) { return e.second.claims->expires_at + settings_.leeway_seconds <= now; });
    if (shard.verified.size() >= kMaxPerShard) shard.verified.clear();
  }
  shard.verified.insert_or_assign(std::string(token), Shard::Verified{claims, ring});
}

}  // namespace ap::domain
