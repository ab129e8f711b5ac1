#include "vault/master_key.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

namespace ap::vault {
namespace {

// A directory of this test's own, removed when the test ends.
class TempDir {
 public:
  TempDir()
      : dir_(std::filesystem::temp_directory_path() /
             ("ap-master-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::filesystem::path operator/(const char* name) const { return dir_ / name; }

 private:
  std::filesystem::path dir_;
};

TEST(MasterKey, AFirstStartCreatesAPrivateFileThatLoadsToTheSameKey) {
  TempDir dir;
  auto file = dir / "master.key";
  bool created = false;
  auto first = LoadMasterKey({std::nullopt, file}, true, &created);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(created);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  auto again = LoadMasterKey({std::nullopt, file}, true, &created);
  ASSERT_TRUE(again);
  EXPECT_FALSE(created);
  EXPECT_EQ(first->Bytes(), again->Bytes());
  EXPECT_EQ(first->Id(), again->Id());
}

TEST(MasterKey, AMissingFileIsAnErrorWhenItMayNotBeCreated) {
  TempDir dir;
  auto file = dir / "absent.key";
  auto key = LoadMasterKey({std::nullopt, file}, false);
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find("missing"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST(MasterKey, AFileOthersCanReadIsRefused) {
  TempDir dir;
  auto file = dir / "master.key";
  ASSERT_TRUE(LoadMasterKey({std::nullopt, file}, true));
  ::chmod(file.c_str(), 0644);
  auto key = LoadMasterKey({std::nullopt, file}, false);
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find("chmod 600"), std::string::npos);
}

TEST(MasterKey, TheEnvironmentWinsOverTheFile) {
  MasterKey made = NewMasterKey();
  TempDir dir;
  auto file = dir / "master.key";
  auto key = LoadMasterKey({MasterKeyText(made), file}, true);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->Bytes(), made.Bytes());
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST(MasterKey, TextThatIsNotThirtyTwoBytesOfBase64IsRefusedWithoutEchoingIt) {
  for (std::string bad : std::vector<std::string>{"", "c2hvcnQ=", "not base64 at all!", std::string(44, 'A') + "AAAA",
                          MasterKeyText(NewMasterKey()) + "x"}) {
    auto key = ParseMasterKey(bad, "AIPASSPORT_MASTER_KEY");
    ASSERT_FALSE(key) << bad;
    EXPECT_NE(key.error().message.find("AIPASSPORT_MASTER_KEY"), std::string::npos);
    if (bad.size() > 8) {
      EXPECT_EQ(key.error().message.find(bad), std::string::npos);
    }
  }
  auto padded = ParseMasterKey(MasterKeyText(NewMasterKey()) + "\n", "file");
  EXPECT_TRUE(padded);
}

TEST(MasterKey, DerivedKeysDifferByPurposeAndFromTheMasterKey) {
  MasterKey key = NewMasterKey();
  EXPECT_NE(key.Derive("audit-chain"), key.Derive("other"));
  EXPECT_NE(key.Derive("audit-chain"), key.Bytes());
  EXPECT_EQ(key.Derive("audit-chain"), key.Derive("audit-chain"));
  EXPECT_NE(key.Id(), NewMasterKey().Id());
  EXPECT_EQ(key.Id().size(), 16u);
}

}  // namespace
}  // namespace ap::vault
