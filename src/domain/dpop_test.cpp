#include "domain/dpop.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/base64url.hpp"
#include "crypto/hash.hpp"
#include "crypto/jws.hpp"

namespace ap::domain {
namespace {
namespace json = boost::json;

constexpr UnixSeconds kNow = 1'800'000'000;
const std::string kUrl = "https://broker.example/openai/v1/chat/completions";

struct Proof {
  crypto::Ed25519Key key = crypto::Ed25519Key::Generate();
  json::object header{{"typ", "dpop+jwt"}, {"alg", "EdDSA"}};
  json::object claims{{"jti", "id-1"}, {"htm", "POST"}, {"htu", kUrl}, {"iat", kNow}};

  std::string Sign() {
    if (!header.contains("jwk")) header["jwk"] = crypto::PublicJwk(key);
    return crypto::SignCompactJws(json::serialize(header), json::serialize(claims), key);
  }
};

class DpopTest : public ::testing::Test {
 protected:
  Result<std::string> Check(const std::string& proof, std::string_view method = "POST", std::string_view url = kUrl,
                            std::optional<std::string_view> token = std::nullopt) {
    std::string_view proofs[] = {proof};
    return verifier_.Check({proofs, method, url, token});
  }
  std::string Why(const Result<std::string>& r) { return r ? "" : r.error().message; }

  DpopVerifier verifier_{[] { return kNow; }};
};

TEST_F(DpopTest, AValidProofGivesItsKeysThumbprintOnce) {
  Proof p;
  std::string proof = p.Sign();
  auto jkt = Check(proof);
  ASSERT_TRUE(jkt) << Why(jkt);
  EXPECT_EQ(*jkt, crypto::JwkThumbprint(p.key));
  EXPECT_EQ(Why(Check(proof)), "Invalid DPoP proof: this proof was already used");
}

TEST_F(DpopTest, MethodAndUrlMustMatchButTheQueryDoesNot) {
  Proof p;
  EXPECT_EQ(Why(Check(p.Sign(), "GET")), "Invalid DPoP proof: htm does not match the request's method");
  p.claims["jti"] = "id-2";
  EXPECT_EQ(Why(Check(p.Sign(), "POST", "https://broker.example/openai/v1/embeddings")),
            "Invalid DPoP proof: htu does not match the request's URL");
  p.claims["jti"] = "id-3";
  p.claims["htu"] = "HTTPS://Broker.Example:443/openai/v1/chat/completions?x=1";
  EXPECT_TRUE(Check(p.Sign(), "POST", kUrl + "?stream=1"));
}

TEST_F(DpopTest, IatMustBeRecent) {
  Proof old;
  old.claims["iat"] = kNow - 301;
  EXPECT_EQ(Why(Check(old.Sign())), "Invalid DPoP proof: iat is too old");
  Proof future;
  future.claims["iat"] = kNow + 31;
  EXPECT_EQ(Why(Check(future.Sign())), "Invalid DPoP proof: iat is in the future");
}

TEST_F(DpopTest, HeaderChecks) {
  Proof typ;
  typ.header["typ"] = "JWT";
  EXPECT_EQ(Why(Check(typ.Sign())), "Invalid DPoP proof: typ must be dpop+jwt");
  Proof hs;
  hs.header["alg"] = "HS256";
  EXPECT_EQ(Why(Check(hs.Sign())), "Invalid DPoP proof: alg must be EdDSA, Ed25519 or ES256");
  Proof priv;
  json::object jwk = crypto::PublicJwk(priv.key);
  jwk["d"] = Base64UrlEncode(std::string(32, 'x'));
  priv.header["jwk"] = jwk;
  EXPECT_EQ(Why(Check(priv.Sign())), "Invalid DPoP proof: the jwk is a private key");
  Proof other;  // signed by one key, presenting another
  other.header["jwk"] = crypto::PublicJwk(crypto::Ed25519Key::Generate());
  EXPECT_EQ(Why(Check(other.Sign())), "Invalid DPoP proof: the signature does not verify");
  EXPECT_EQ(Why(Check("not.a.jwt")), "Invalid DPoP proof: not a compact JWS");
  Proof critical;  // an extension the client counts on being enforced, which the broker does not know
  critical.header["crit"] = json::array{"exp"};
  critical.claims["exp"] = kNow - 1;
  EXPECT_EQ(Why(Check(critical.Sign())), "Invalid DPoP proof: no critical header extension (crit) is understood");
}

TEST_F(DpopTest, ExactlyOneProof) {
  Proof p;
  std::string proof = p.Sign();
  std::string_view two[] = {proof, proof};
  EXPECT_EQ(Why(verifier_.Check({two, "POST", kUrl, std::nullopt})),
            "Invalid DPoP proof: exactly one DPoP header is allowed");
  EXPECT_EQ(Why(verifier_.Check({{}, "POST", kUrl, std::nullopt})), "Invalid DPoP proof: a DPoP header is required");
}

TEST_F(DpopTest, AthBindsTheProofToTheAccessToken) {
  Proof p;
  p.claims["ath"] = Base64UrlEncode(crypto::Sha256("the-token"));
  EXPECT_EQ(Why(Check(p.Sign(), "POST", kUrl, "another-token")),
            "Invalid DPoP proof: ath does not match the access token");
  p.claims["jti"] = "id-9";
  EXPECT_TRUE(Check(p.Sign(), "POST", kUrl, "the-token"));
}

// A bound token's proof must be signed by its key, and one that is not is refused before it is
// remembered: proofs signed by keys of one's own cannot fill the replay cache.
TEST_F(DpopTest, AProofByAnotherKeyThanTheTokensIsRefusedAndNotRemembered) {
  Proof p;
  std::string proof = p.Sign();
  std::string_view proofs[] = {proof};
  std::string other = crypto::JwkThumbprint(crypto::Ed25519Key::Generate());
  auto refused = verifier_.Check({proofs, "POST", kUrl, std::nullopt, false, std::string_view(other)});
  EXPECT_EQ(Why(refused), "Invalid DPoP proof: signed by another key than the token's");
  std::string own = crypto::JwkThumbprint(p.key);
  auto accepted = verifier_.Check({proofs, "POST", kUrl, std::nullopt, false, std::string_view(own)});
  ASSERT_TRUE(accepted) << Why(accepted);
  EXPECT_EQ(*accepted, own);
}

TEST_F(DpopTest, ANonceIsRequiredWhereTheCallerAsks) {
  Proof p;
  std::string without = p.Sign();
  std::string_view one[] = {without};
  auto refused = verifier_.Check({one, "POST", kUrl, std::nullopt, true});
  ASSERT_FALSE(refused);
  EXPECT_TRUE(IsNonceRefusal(refused.error()));
  p.claims["jti"] = "id-n1";
  p.claims["nonce"] = "made-up";
  std::string forged = p.Sign();
  std::string_view two[] = {forged};
  EXPECT_TRUE(IsNonceRefusal(verifier_.Check({two, "POST", kUrl, std::nullopt, true}).error()));
  p.claims["jti"] = "id-n2";
  p.claims["nonce"] = verifier_.Nonce();
  std::string fresh = p.Sign();
  std::string_view three[] = {fresh};
  EXPECT_TRUE(verifier_.Check({three, "POST", kUrl, std::nullopt, true}));
}

// The replay cache is bounded; when full, a new proof waits rather than a live jti being forgotten.
TEST(DpopReplayCache, WhenFullNewProofsAreRefusedAndNoLiveJtiIsForgotten) {
  UnixSeconds now = kNow;
  DpopVerifier verifier([&now] { return now; }, 300, 30, 3);
  auto check = [&](const std::string& proof) {
    std::string_view proofs[] = {proof};
    return verifier.Check({proofs, "POST", kUrl, std::nullopt});
  };
  Proof keys[4];  // one proof a key: no key is over its share
  std::vector<std::string> proofs;
  for (int i = 0; i < 4; ++i) {
    keys[i].claims["jti"] = "flood-" + std::to_string(i);
    proofs.push_back(keys[i].Sign());
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(check(proofs[i]));
  auto full = check(proofs[3]);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::kUnavailable);
  EXPECT_GT(full.error().retry_after_seconds, 0);
  EXPECT_EQ(check(proofs[0]).error().message, "Invalid DPoP proof: this proof was already used")
      << "a live jti is still remembered while the cache is full";

  now += 331;  // the first three are past their window; fresh proofs fit again
  keys[0].claims["iat"] = now;
  keys[0].claims["jti"] = "after";
  EXPECT_TRUE(check(keys[0].Sign()));
}

// One key's holder cannot fill the cache for everyone: past half full, a key holding a sixteenth of
// it is refused (429, try again) while other keys still get in; its proofs lapse and it gets in again.
TEST(DpopReplayCache, OneKeyCannotFillItPastItsShare) {
  UnixSeconds now = kNow;
  DpopVerifier verifier([&now] { return now; }, 300, 30, 32);  // a share is 2, half is 16
  auto check = [&](Proof& p, const std::string& jti) {
    p.claims["jti"] = jti;
    p.claims["iat"] = now;
    std::string proof = p.Sign();
    std::string_view proofs[] = {proof};
    return verifier.Check({proofs, "POST", kUrl, std::nullopt});
  };
  Proof flooder;
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(check(flooder, "flood-" + std::to_string(i))) << "under half full: " << i;
  auto refused = check(flooder, "flood-16");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kRateLimited);
  EXPECT_EQ(refused.error().message, "Too many DPoP proofs by this key; try again shortly");
  EXPECT_GT(refused.error().retry_after_seconds, 0);

  Proof others[7];  // 16 + 7 * 2 = 30 of 32: the cache is never full
  for (auto& other : others) {
    EXPECT_TRUE(check(other, "a"));
    EXPECT_TRUE(check(other, "b"));
    EXPECT_EQ(check(other, "c").error().code, Errc::kRateLimited) << "each key stops at its share";
  }

  now += 331;  // every proof has lapsed: the flooder's key may hold many again
  EXPECT_TRUE(check(flooder, "later"));
}

// A key's share counts what the store holds for every broker, not only this process's own proofs.
TEST(DpopReplayCache, AKeysShareCountsTheStoresProofs) {
  DpopVerifier verifier([] { return kNow; }, 300, 30, 32);
  verifier.NoteSharedProofs(20);  // other brokers' proofs: past half of 32
  Proof p;
  auto check = [&](const std::string& jti) {
    p.claims["jti"] = jti;
    std::string proof = p.Sign();
    std::string_view proofs[] = {proof};
    return verifier.Check({proofs, "POST", kUrl, std::nullopt});
  };
  EXPECT_TRUE(check("1"));
  EXPECT_TRUE(check("2"));
  EXPECT_EQ(check("3").error().code, Errc::kRateLimited);
  verifier.NoteSharedProofs(3);
  EXPECT_TRUE(check("3"));
}

// A key the store refused as over its share (on every broker's count) is refused here until its
// time to try again, without a store trip; other keys are not.
TEST(DpopReplayCache, AKeyTheStoreHeldBackIsRefusedHereUntilItsTime) {
  UnixSeconds now = kNow;
  DpopVerifier verifier([&now] { return now; });
  Proof held, other;
  DpopReplayKey replay;
  auto check = [&](Proof& p, const std::string& jti) {
    p.claims["jti"] = jti;
    p.claims["iat"] = now;
    std::string proof = p.Sign();
    std::string_view proofs[] = {proof};
    return verifier.Check({proofs, "POST", kUrl, std::nullopt}, &replay);
  };
  ASSERT_TRUE(check(held, "1"));
  verifier.HoldBack(replay.jkt, now + 5);
  auto refused = check(held, "2");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kRateLimited);
  EXPECT_TRUE(check(other, "1")) << "another key";
  now += 6;
  EXPECT_TRUE(check(held, "3")) << "its time has come";
}

TEST(DpopNonce, LastsTwoWindowsAndIsTheBrokersOwn) {
  UnixSeconds now = kNow;
  DpopVerifier verifier([&now] { return now; });
  DpopVerifier other([&now] { return now; });
  std::string nonce = verifier.Nonce();
  EXPECT_NE(nonce, other.Nonce());
  auto check = [&](int jti) {
    Proof p;
    p.claims["jti"] = "n" + std::to_string(jti);
    p.claims["iat"] = now;
    p.claims["nonce"] = nonce;
    std::string proof = p.Sign();
    std::string_view one[] = {proof};
    return verifier.Check({one, "POST", kUrl, std::nullopt, true}).has_value();
  };
  EXPECT_TRUE(check(1));
  now += 300;
  EXPECT_TRUE(check(2));  // the previous window's nonce still works
  now += 300;
  EXPECT_FALSE(check(3));
}

// Brokers behind one balancer share the nonce key (from the store): a nonce handed out by one is
// good on another, and each accepted proof names what the others must remember of it.
TEST(DpopNonce, BrokersSharingTheKeyAcceptEachOthersNonces) {
  UnixSeconds now = kNow;
  DpopVerifier one([&now] { return now; });
  DpopVerifier two([&now] { return now; });
  one.ShareNonceKey("shared");
  two.ShareNonceKey("shared");
  Proof p;
  p.claims["nonce"] = one.Nonce();
  std::string proof = p.Sign();
  std::string_view proofs[] = {proof};
  DpopReplayKey replay;
  ASSERT_TRUE(two.Check({proofs, "POST", kUrl, std::nullopt, true}, &replay));
  EXPECT_EQ(replay.proof_hash, crypto::Sha256Hex(crypto::JwkThumbprint(p.key) + ":id-1"));
  EXPECT_EQ(replay.forget_at, now + 300 + 30);
  EXPECT_TRUE(one.Check({proofs, "POST", kUrl, std::nullopt, true}))
      << "each process's own cache does not know the other's proofs: the store's check does";
}

TEST(NormalizeHtu, DropsQueryFragmentAndDefaultPort) {
  EXPECT_EQ(NormalizeHtu("HTTPS://A.example:443/x/Y?q=1#f"), "https://a.example/x/Y");
  EXPECT_EQ(NormalizeHtu("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
}

}  // namespace
}  // namespace ap::domain
