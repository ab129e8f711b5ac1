#include "domain/dpop.hpp"

#include <boost/json.hpp>
#include <cctype>

#include "core/base64url.hpp"
#include "crypto/hash.hpp"
#include "crypto/jws.hpp"
#include "crypto/public_jwk.hpp"

namespace ap::domain {
namespace json = boost::json;

namespace {

Error Invalid(std::string why) { return MakeError(Errc::kUnauthorized, "Invalid DPoP proof: " + why); }

constexpr std::string_view kNonceRefusal = "Invalid DPoP proof: use the nonce from the DPoP-Nonce header";

const json::string* StringAt(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? &v->get_string() : nullptr;
}

std::optional<int64_t> IntAt(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64() && v->get_uint64() < (1ULL << 62)) return static_cast<int64_t>(v->get_uint64());
  return std::nullopt;
}

}  // namespace

std::string NormalizeHtu(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  size_t path = url.find('/', scheme_end + 3);
  std::string origin(url.substr(0, path));
  for (char& c : origin) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (origin.starts_with("https://") && origin.ends_with(":443")) origin.resize(origin.size() - 4);
  if (origin.starts_with("http://") && origin.ends_with(":80")) origin.resize(origin.size() - 3);
  std::string_view rest = path == std::string_view::npos ? "/" : url.substr(path);
  return origin + std::string(rest);
}

bool IsNonceRefusal(const Error& error) { return error.message == kNonceRefusal; }

std::string DpopVerifier::NonceFor(int64_t window) const {
  return Base64UrlEncode(crypto::HmacSha256(nonce_key_, std::to_string(window)));
}

bool DpopVerifier::FreshNonce(std::string_view nonce, UnixSeconds now) const {
  int64_t window = now / kNonceWindowSeconds;
  return crypto::ConstantTimeEqual(nonce, NonceFor(window)) || crypto::ConstantTimeEqual(nonce, NonceFor(window - 1));
}

void DpopVerifier::Forget(UnixSeconds now) {
  std::erase_if(seen_, [this, now](const auto& e) {
    if (e.second.forget_at >= now) return false;
    if (--e.second.key->second == 0) live_by_key_.erase(std::string(e.second.key->first));  // a copy: the key dies
    return true;
  });
  std::erase_if(held_back_, [now](const auto& e) { return e.second < now; });
}

void DpopVerifier::HoldBack(const std::string& thumbprint, UnixSeconds until) {
  std::lock_guard lock(mutex_);
  if (held_back_.size() < kMaxHeldBack) held_back_[thumbprint] = until;  // else the store refuses it again
}

bool DpopVerifier::OverShare(size_t key_holds) const {
  size_t live = std::max(seen_.size(), shared_live_.load());
  return live >= max_remembered_ / 2 && key_holds >= std::max<size_t>(1, max_remembered_ / 16);
}

DpopVerifier::Use DpopVerifier::FirstUse(const std::string& thumbprint, std::string_view key_and_jti, UnixSeconds now) {
  std::string digest = crypto::Sha256(key_and_jti);
  std::lock_guard lock(mutex_);
  if (now != pruned_at_) {  // at most once a second, whatever the rate of proofs
    Forget(now);
    pruned_at_ = now;
  }
  UnixSeconds forget_at = now + max_age_ + max_skew_;
  if (auto it = seen_.find(digest); it != seen_.end()) {
    if (it->second.forget_at >= now) return Use::kReplay;
    it->second.forget_at = forget_at;  // remembered past its window: a new proof may reuse the id
    return Use::kFirst;
  }
  if (seen_.size() >= max_remembered_) return Use::kFull;
  if (auto held = held_back_.find(thumbprint); held != held_back_.end() && held->second >= now)
    return Use::kKeyOverShare;
  auto key = live_by_key_.try_emplace(thumbprint, 0).first;
  if (OverShare(key->second)) return Use::kKeyOverShare;
  ++key->second;
  seen_.emplace(std::move(digest), Seen{forget_at, &*key});
  return Use::kFirst;
}

Result<std::string> DpopVerifier::Check(const DpopRequest& request, DpopReplayKey* replay) {
  if (request.proofs.empty()) return Invalid("a DPoP header is required");
  if (request.proofs.size() > 1) return Invalid("exactly one DPoP header is allowed");
  auto jws = crypto::ParseCompactJws(request.proofs.front());
  if (!jws) return Invalid("not a compact JWS");
  const json::object& header = jws->header;
  if (const auto* typ = StringAt(header, "typ"); !typ || *typ != "dpop+jwt") return Invalid("typ must be dpop+jwt");
  const auto* alg = StringAt(header, "alg");
  if (!alg || (*alg != "EdDSA" && *alg != "Ed25519" && *alg != "ES256"))
    return Invalid("alg must be EdDSA, Ed25519 or ES256");
  // RFC 7515 §4.1.11: an extension the client marks critical must be understood; none is.
  if (header.contains("crit")) return Invalid("no critical header extension (crit) is understood");
  const auto* jwk_value = header.if_contains("jwk");
  if (!jwk_value || !jwk_value->is_object()) return Invalid("the header must carry the public jwk");
  auto jwk = crypto::JwkPublicKey::Parse(jwk_value->get_object());
  if (!jwk) return Invalid(jwk.error().message);
  if (!jwk->Verify(*alg, jws->signing_input, jws->signature)) return Invalid("the signature does not verify");

  boost::system::error_code ec;
  json::value payload = json::parse(jws->payload, ec);
  if (ec || !payload.is_object()) return Invalid("the payload is not a JSON object");
  const json::object& claims = payload.get_object();
  const auto* jti = StringAt(claims, "jti");
  const auto* htm = StringAt(claims, "htm");
  const auto* htu = StringAt(claims, "htu");
  auto iat = IntAt(claims, "iat");
  if (!jti || jti->empty() || jti->size() > 256 || !htm || !htu || !iat)
    return Invalid("jti, htm, htu and iat are required");
  if (*htm != request.method) return Invalid("htm does not match the request's method");
  if (NormalizeHtu(*htu) != NormalizeHtu(request.url)) return Invalid("htu does not match the request's URL");
  UnixSeconds now = clock_();
  if (*iat < now - max_age_) return Invalid("iat is too old");
  if (*iat > now + max_skew_) return Invalid("iat is in the future");
  if (request.require_nonce) {
    const auto* nonce = StringAt(claims, "nonce");
    if (!nonce || !FreshNonce(*nonce, now)) return MakeError(Errc::kUnauthorized, std::string(kNonceRefusal));
  }
  if (request.access_token) {
    const auto* ath = StringAt(claims, "ath");
    if (!ath || *ath != Base64UrlEncode(crypto::Sha256(*request.access_token)))
      return Invalid("ath does not match the access token");
  }
  std::string thumbprint = jwk->Thumbprint();
  if (request.key && thumbprint != *request.key) return Invalid("signed by another key than the token's");
  std::string key_and_jti = thumbprint + ":" + std::string(*jti);
  if (replay) *replay = DpopReplayKey{crypto::Sha256Hex(key_and_jti), thumbprint, now + max_age_ + max_skew_};
  switch (FirstUse(thumbprint, key_and_jti, now)) {
    case Use::kFirst:
      break;
    case Use::kReplay:
      return Invalid("this proof was already used");
    case Use::kFull: {
      Error busy = MakeError(Errc::kUnavailable, "Too many DPoP proofs in flight; try again shortly");
      busy.retry_after_seconds = 5;
      return busy;
    }
    case Use::kKeyOverShare: {
      Error many = MakeError(Errc::kRateLimited, "Too many DPoP proofs by this key; try again shortly");
      many.retry_after_seconds = 5;
      return many;
    }
  }
  return thumbprint;
}

}  // namespace ap::domain
