#include "crypto/password.hpp"

#include <gtest/gtest.h>

namespace ap::crypto {
namespace {

TEST(PasswordTest, Argon2idHashesVerifyOnlyTheirPassword) {
  auto hash = HashPassword("correct horse battery staple");
  ASSERT_TRUE(hash);
  EXPECT_TRUE(hash->starts_with("$argon2id$v=19$"));
  EXPECT_TRUE(VerifyPassword(*hash, "correct horse battery staple"));
  EXPECT_FALSE(VerifyPassword(*hash, "correct horse battery stapl"));
  EXPECT_FALSE(VerifyPassword(*hash, ""));
  auto again = HashPassword("correct horse battery staple");
  EXPECT_NE(*hash, *again) << "each hash has its own salt";
}

TEST(PasswordTest, RefusesShortPasswordsAndForeignHashes) {
  EXPECT_EQ(HashPassword("short").error().code, Errc::kValidation);
  EXPECT_FALSE(VerifyPassword("$2b$10$abcdefghijklmnopqrstuuJ2Ks0Hp1m3Wq", "whatever password"));
  EXPECT_FALSE(VerifyPassword("", "whatever password"));
  EXPECT_FALSE(VerifyPassword(std::string(500, 'a'), "whatever password"));
}

}  // namespace
}  // namespace ap::crypto
