#include "domain/token_service.hpp"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "core/base64url.hpp"
#include "crypto/jws.hpp"

namespace ap::domain {
namespace {

using crypto::Ed25519Key;
using crypto::SigningKey;
using crypto::SigningKeyRing;

class TokenServiceTest : public ::testing::Test {
 protected:
  TokenServiceTest()
      : key_(Ed25519Key::Generate()),
        ring_(std::make_shared<SigningKeyRing>(SigningKeyRing::FromKeys({SigningKey{"k1", key_}}))),
        tokens_(ring_, TokenSettings{}, [this] { return now_; }) {}

  std::string Sign(const boost::json::object& header, const boost::json::object& claims, const Ed25519Key& key) {
    return crypto::SignCompactJws(boost::json::serialize(header), boost::json::serialize(claims), key);
  }
  boost::json::object Header() { return {{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", "k1"}}; }
  boost::json::object Claims() {
    return {{"iss", "aipassport-broker"},
            {"aud", "aipassport"},
            {"sub", "g1"},
            {"gid", "g1"},
            {"jti", "j1"},
            {"iat", now_},
            {"exp", now_ + 60}};
  }
  std::string Refusal(std::string_view token) {
    auto r = tokens_.Verify(token);
    EXPECT_FALSE(r) << "accepted: " << token;
    if (r) return "";
    EXPECT_EQ(r.error().code, Errc::kUnauthorized);
    return r.error().message;
  }

  UnixSeconds now_ = 1'800'000'000;
  Ed25519Key key_;
  std::shared_ptr<SigningKeyRing> ring_;
  TokenService tokens_;
};

TEST_F(TokenServiceTest, IssuesTokensThatVerify) {
  auto t = tokens_.Issue("grant-1", std::nullopt);
  EXPECT_EQ(t.expires_at, now_ + 3600);
  auto claims = tokens_.Verify(t.token);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ((*claims)->grant_id, "grant-1");
  EXPECT_EQ((*claims)->jti, t.jti);
  auto jws = crypto::ParseCompactJws(t.token).value();
  EXPECT_EQ(jws.header.at("typ").as_string(), "at+jwt");
  EXPECT_EQ(jws.header.at("kid").as_string(), "k1");
  auto payload = boost::json::parse(jws.payload).as_object();
  for (const char* claim : {"iss", "sub", "aud", "gid", "jti", "iat", "exp"})
    EXPECT_TRUE(payload.contains(claim)) << claim;
}

TEST_F(TokenServiceTest, AChildGrantsTokenNamesTheChainThatHandedItOn) {
  auto t = tokens_.Issue("grandchild", std::nullopt, "app-1", "", {}, {"child", "root"});
  auto payload = boost::json::parse(crypto::ParseCompactJws(t.token).value().payload).as_object();
  EXPECT_EQ(boost::json::serialize(payload.at("act")),
            R"({"sub":"child","client_id":"app-1","act":{"sub":"root","client_id":"app-1"}})");
  EXPECT_TRUE(tokens_.Verify(t.token));
  auto plain = tokens_.Issue("root", std::nullopt, "app-1");
  EXPECT_FALSE(boost::json::parse(crypto::ParseCompactJws(plain.token).value().payload).as_object().contains("act"));
}

TEST_F(TokenServiceTest, NeverOutlivesTheGrant) { EXPECT_EQ(tokens_.Issue("g", now_ + 100).expires_at, now_ + 100); }

TEST_F(TokenServiceTest, RefusesExpiredTokensEvenWhenCached) {
  auto t = tokens_.Issue("g", now_ + 100);
  ASSERT_TRUE(tokens_.Verify(t.token));
  now_ += 100 + TokenSettings{}.leeway_seconds;
  EXPECT_EQ(Refusal(t.token), "Token expired");
}

TEST_F(TokenServiceTest, AKeyDroppedFromTheRingStopsItsTokensAtOnceEvenWhenCached) {
  auto old = tokens_.Issue("g", now_ + 3600);
  ASSERT_TRUE(tokens_.Verify(old.token));
  // A rotation that kept the old key: its token still verifies.
  SigningKey next{"k2", Ed25519Key::Generate()};
  tokens_.SetKeys(std::make_shared<SigningKeyRing>(SigningKeyRing::FromKeys({next, SigningKey{"k1", key_}})));
  EXPECT_TRUE(tokens_.Verify(old.token));
  // One that dropped it (it may have leaked): refused, though verified and cached before.
  tokens_.SetKeys(std::make_shared<SigningKeyRing>(SigningKeyRing::FromKeys({next})));
  EXPECT_EQ(Refusal(old.token), "Invalid token: unknown signing key");
  EXPECT_TRUE(tokens_.Verify(tokens_.Issue("g", now_ + 3600).token));
}

// The cache is keyed by the token's own bytes: a call with the same token shares the claims verified
// once, and a token one byte off a cached one is checked afresh (and refused).
TEST_F(TokenServiceTest, TheCacheKnowsOnlyTheExactTokenItVerified) {
  auto t = tokens_.Issue("g", std::nullopt);
  auto first = tokens_.Verify(t.token);
  ASSERT_TRUE(first) << first.error().message;
  auto again = tokens_.Verify(t.token);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(first->get(), again->get()) << "the second call should have found the first's claims";
  std::string tampered = t.token;
  char& in_signature = tampered[tampered.size() - 10];
  in_signature = in_signature == 'A' ? 'B' : 'A';
  EXPECT_EQ(Refusal(tampered), "Invalid token: bad signature");
  EXPECT_FALSE(tokens_.Verify(t.token + "A"));
  EXPECT_FALSE(tokens_.Verify(std::string_view(t.token).substr(0, t.token.size() - 1)));
  // The cache hashes a token's tail, its signature's: another grant's claims before a cached
  // token's signature share its hash and are still refused.
  auto other = tokens_.Issue("other", std::nullopt);
  std::string_view signature = std::string_view(t.token).substr(t.token.rfind('.'));
  std::string swapped = other.token.substr(0, other.token.rfind('.')) + std::string(signature);
  EXPECT_EQ(Refusal(swapped), "Invalid token: bad signature");
  EXPECT_EQ(tokens_.Verify(t.token).value()->grant_id, "g");
}

// A clock set back an hour: a token issued "in the future" is refused (nbf), cached or not, so the
// cache never decides otherwise than a fresh check would.
TEST_F(TokenServiceTest, AClockSetBackRefusesTokensIssuedInTheFutureEvenWhenCached) {
  auto used = tokens_.Issue("g", std::nullopt);
  auto unused = tokens_.Issue("g", std::nullopt);
  ASSERT_TRUE(tokens_.Verify(used.token));
  now_ -= 3600;
  EXPECT_EQ(Refusal(unused.token), "Token is not valid yet");
  EXPECT_EQ(Refusal(used.token), "Token is not valid yet");
  EXPECT_TRUE(tokens_.Verify(tokens_.Issue("g", std::nullopt).token)) << "one issued after the change is good";
}

TEST_F(TokenServiceTest, RefusesEveryForgery) {
  EXPECT_NE(Refusal(Sign(Header(), Claims(), Ed25519Key::Generate())).find("bad signature"), std::string::npos);
  auto h = Header();
  h["alg"] = "none";
  std::string none =
      Base64UrlEncode(boost::json::serialize(h)) + "." + Base64UrlEncode(boost::json::serialize(Claims())) + ".";
  EXPECT_NE(Refusal(none).find("EdDSA"), std::string::npos);
  h = Header();
  h["kid"] = "k2";
  EXPECT_NE(Refusal(Sign(h, Claims(), key_)).find("unknown signing key"), std::string::npos);
  h = Header();
  h["typ"] = "JWT";
  EXPECT_NE(Refusal(Sign(h, Claims(), key_)).find("typ"), std::string::npos);
  h = Header();
  h["crit"] = boost::json::array{"exp"};
  EXPECT_NE(Refusal(Sign(h, Claims(), key_)).find("critical"), std::string::npos);
}

// Key confusion: an HS256 token whose HMAC secret is our public key must not pass.
TEST_F(TokenServiceTest, RefusesHs256SignedWithThePublicKey) {
  auto h = Header();
  h["alg"] = "HS256";
  std::string input =
      Base64UrlEncode(boost::json::serialize(h)) + "." + Base64UrlEncode(boost::json::serialize(Claims()));
  std::string pub = key_.PublicRaw();
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), pub.data(), static_cast<int>(pub.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  EXPECT_NE(Refusal(input + "." + Base64UrlEncode(std::string(reinterpret_cast<char*>(mac), len))).find("EdDSA"),
            std::string::npos);
}

TEST_F(TokenServiceTest, ChecksIssuerAudienceAndTimes) {
  auto c = Claims();
  c["iss"] = "someone-else";
  EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Invalid token: wrong issuer");
  c = Claims();
  c["aud"] = "other";
  EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Invalid token: wrong audience");
  c = Claims();
  c["aud"] = boost::json::array{"other", "aipassport"};
  EXPECT_TRUE(tokens_.Verify(Sign(Header(), c, key_)));
  c = Claims();
  c["exp"] = now_ - 60;
  EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Token expired");
  c = Claims();
  c["nbf"] = now_ + 600;
  EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Token is not valid yet");
  c = Claims();
  c["iat"] = now_ + 600;
  EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Invalid token: issued in the future");
  c = Claims();
  c.erase("exp");
  EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Invalid token: exp and iat are required");
  c = Claims();
  c.erase("gid");
  EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Invalid token: gid and jti are required");
}

// Found by fuzz/jws_fuzz.cpp: a date too large for int64 was cast anyway (undefined behaviour,
// reported by UBSan), and exp near INT64_MAX would overflow when the leeway is added.
TEST_F(TokenServiceTest, RefusesDatesBeyondAnyClock) {
  for (boost::json::value date : {boost::json::value(1.8e58), boost::json::value(-1e300), boost::json::value(INT64_MAX),
                                  boost::json::value(UINT64_MAX)}) {
    for (const char* name : {"exp", "iat"}) {
      auto c = Claims();
      c[name] = date;
      EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Invalid token: exp and iat are required") << name << date;
    }
  }
}

// None of Wycheproof's JWS cases uses our key or algorithm: each one, valid or not for its own
// key (HS256, ES256, RS256, PS256, alg none, embedded keys, bad base64...), must be refused.
TEST_F(TokenServiceTest, RefusesEveryWycheproofJws) {
  std::ifstream in(std::string(AIPASSPORT_TEST_DATA) + "/wycheproof/json_web_signature_test.json");
  std::stringstream text;
  text << in.rdbuf();
  auto doc = boost::json::parse(text.str());
  int checked = 0;
  for (const auto& group : doc.at("testGroups").as_array())
    for (const auto& test : group.at("tests").as_array()) {
      if (!test.as_object().contains("jws") || !test.at("jws").is_string()) continue;
      EXPECT_FALSE(tokens_.Verify(test.at("jws").as_string())) << "tcId " << test.at("tcId").as_int64();
      ++checked;
    }
  EXPECT_GT(checked, 300);
}

TEST_F(TokenServiceTest, NamesTheIssuerItIsGivenAndTheResourcesItIsBoundTo) {
  tokens_.SetIdentity("https://broker.example", {"https://broker.example", "https://broker.example/openai/v1"});
  auto t = tokens_.Issue("g1", std::nullopt, "app", "", {"https://broker.example/openai/v1"});
  auto jws = crypto::ParseCompactJws(t.token);
  ASSERT_TRUE(jws);
  auto claims = boost::json::parse(jws->payload).as_object();
  EXPECT_EQ(claims["iss"], "https://broker.example");
  EXPECT_EQ(claims["aud"], "https://broker.example/openai/v1");
  auto verified = tokens_.Verify(t.token);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ((*verified)->audiences, std::vector<std::string>{"https://broker.example/openai/v1"});

  auto two = tokens_.Issue("g1", std::nullopt, "app", "", {"https://broker.example", "https://broker.example/openai/v1"});
  claims = boost::json::parse(crypto::ParseCompactJws(two.token)->payload).as_object();
  EXPECT_EQ(claims["aud"], (boost::json::array{"https://broker.example", "https://broker.example/openai/v1"}));
  auto plain = tokens_.Verify(tokens_.Issue("g1", std::nullopt).token);
  ASSERT_TRUE(plain);
  EXPECT_EQ((*plain)->audiences, std::vector<std::string>{"aipassport"});

  auto c = Claims();
  c["iss"] = "https://broker.example";
  c["aud"] = "https://broker.example/anthropic";  // not one of its resources
  EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Invalid token: wrong audience");
  c["iss"] = "aipassport-broker";
  c["aud"] = "aipassport";
  EXPECT_EQ(Refusal(Sign(Header(), c, key_)), "Invalid token: wrong issuer");
}

}  // namespace
}  // namespace ap::domain
