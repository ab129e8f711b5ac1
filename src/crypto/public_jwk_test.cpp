#include "crypto/public_jwk.hpp"

#include <gtest/gtest.h>

#include "core/base64url.hpp"
#include "crypto/test_vectors.hpp"

namespace ap::crypto {
namespace {

using vectors::FromHex;

// Every Wycheproof ES256 (P1363 form) case: valid ones verify, invalid ones do not.
TEST(P256, WycheproofSignatures) {
  auto doc = vectors::LoadTestData("wycheproof/ecdsa_secp256r1_sha256_p1363_test.json");
  int checked = 0;
  for (const auto& group : doc.at("testGroups").as_array()) {
    std::string point = FromHex(group.at("publicKey").at("uncompressed").as_string());
    auto key = P256PublicKey::FromCoordinates(point.substr(1, 32), point.substr(33, 32));
    ASSERT_TRUE(key) << point.size();
    for (const auto& t : group.at("tests").as_array()) {
      std::string result(t.at("result").as_string());
      bool ok = key->Verify(FromHex(t.at("msg").as_string()), FromHex(t.at("sig").as_string()));
      if (result == "valid") {
        EXPECT_TRUE(ok) << t.at("tcId");
      } else if (result == "invalid") {
        EXPECT_FALSE(ok) << t.at("tcId");
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 200);
}

TEST(P256, RefusesAPointOffTheCurve) {
  std::string x(32, '\x01'), y(32, '\x02');
  EXPECT_FALSE(P256PublicKey::FromCoordinates(x, y));
}

TEST(JwkPublicKey, ParsesOkpAndEcAndBindsEachToItsAlgorithm) {
  Ed25519Key ed = Ed25519Key::Generate();
  boost::json::object okp{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", Base64UrlEncode(ed.PublicRaw())}};
  auto jwk = JwkPublicKey::Parse(okp).value();
  std::string sig = ed.Sign("input");
  EXPECT_TRUE(jwk.Verify("EdDSA", "input", sig));
  EXPECT_FALSE(jwk.Verify("ES256", "input", sig));
  EXPECT_FALSE(jwk.Verify("EdDSA", "other", sig));
  EXPECT_EQ(jwk.Thumbprint().size(), 43u);

  auto doc = vectors::LoadTestData("wycheproof/ecdsa_secp256r1_sha256_p1363_test.json");
  const auto& group = doc.at("testGroups").as_array().at(0);
  std::string point = FromHex(group.at("publicKey").at("uncompressed").as_string());
  boost::json::object ec{{"kty", "EC"},
                         {"crv", "P-256"},
                         {"x", Base64UrlEncode(point.substr(1, 32))},
                         {"y", Base64UrlEncode(point.substr(33, 32))}};
  auto ec_jwk = JwkPublicKey::Parse(ec).value();
  const auto& first = group.at("tests").as_array().at(0);
  ASSERT_EQ(first.at("result").as_string(), "valid");
  EXPECT_TRUE(ec_jwk.Verify("ES256", FromHex(first.at("msg").as_string()), FromHex(first.at("sig").as_string())));
  EXPECT_FALSE(ec_jwk.Verify("EdDSA", FromHex(first.at("msg").as_string()), FromHex(first.at("sig").as_string())));
}

TEST(JwkPublicKey, RefusesPrivateKeysAndOtherKinds) {
  boost::json::object base{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", Base64UrlEncode(std::string(32, 'a'))}};
  boost::json::object with_private = base;
  with_private["d"] = Base64UrlEncode(std::string(32, 'b'));
  EXPECT_FALSE(JwkPublicKey::Parse(with_private));
  boost::json::object rsa{{"kty", "RSA"}, {"n", "AQAB"}, {"e", "AQAB"}};
  EXPECT_FALSE(JwkPublicKey::Parse(rsa));
  boost::json::object sym{{"kty", "oct"}, {"k", "c2VjcmV0"}};
  EXPECT_FALSE(JwkPublicKey::Parse(sym));
  boost::json::object short_x = base;
  short_x["x"] = "AAAA";
  EXPECT_FALSE(JwkPublicKey::Parse(short_x));
}

}  // namespace
}  // namespace ap::crypto
