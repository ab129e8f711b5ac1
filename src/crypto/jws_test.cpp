#include "crypto/jws.hpp"

#include <gtest/gtest.h>

#include "core/base64url.hpp"

namespace ap::crypto {
namespace {

// RFC 8037 Appendix A.1 / A.4.
constexpr const char* kRfcD = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr const char* kRfcX = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr const char* kRfcJws =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

Ed25519Key RfcKey() { return Ed25519Key::FromPrivateRaw(*Base64UrlDecode(kRfcD)).value(); }

TEST(Jws, SignsTheRfc8037Vector) {
  Ed25519Key key = RfcKey();
  EXPECT_EQ(Base64UrlEncode(key.PublicRaw()), kRfcX);
  EXPECT_EQ(SignCompactJws(R"({"alg":"EdDSA"})", "Example of Ed25519 signing", key), kRfcJws);
}

TEST(Jws, VerifiesTheRfc8037VectorWithThePublicKeyOnly) {
  auto pub = Ed25519Key::FromPublicRaw(*Base64UrlDecode(kRfcX)).value();
  auto jws = ParseCompactJws(kRfcJws).value();
  EXPECT_EQ(jws.header.at("alg").as_string(), "EdDSA");
  EXPECT_EQ(jws.payload, "Example of Ed25519 signing");
  EXPECT_TRUE(pub.Verify(jws.signing_input, jws.signature));
}

TEST(Jws, ThumbprintMatchesRfc8037AppendixA3) {
  EXPECT_EQ(JwkThumbprint(RfcKey()), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  auto jwk = PublicJwk(RfcKey());
  EXPECT_EQ(jwk.at("kty").as_string(), "OKP");
  EXPECT_EQ(jwk.at("crv").as_string(), "Ed25519");
  EXPECT_EQ(jwk.at("x").as_string(), kRfcX);
  EXPECT_FALSE(jwk.contains("d"));
}

TEST(Jws, RejectsATamperedPayload) {
  std::string token = kRfcJws;
  token[token.find('.') + 2] ^= 1;
  auto jws = ParseCompactJws(token);
  ASSERT_TRUE(jws);
  EXPECT_FALSE(RfcKey().Verify(jws->signing_input, jws->signature));
}

TEST(Jws, RejectsMalformedFraming) {
  EXPECT_FALSE(ParseCompactJws(""));
  EXPECT_FALSE(ParseCompactJws("a.b"));
  EXPECT_FALSE(ParseCompactJws("a.b.c.d"));
  EXPECT_FALSE(ParseCompactJws("eyJhbGciOiJFZERTQSJ9.RXhh=.AA"));
  EXPECT_FALSE(ParseCompactJws(Base64UrlEncode("[1]") + ".e30.AA"));  // header not an object
  EXPECT_FALSE(ParseCompactJws(Base64UrlEncode("{nope") + ".e30.AA"));
}

}  // namespace
}  // namespace ap::crypto
