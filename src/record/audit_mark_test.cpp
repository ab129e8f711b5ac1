#include "record/audit_mark.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "record/audit_trail.hpp"

namespace ap::record {
namespace {

const std::string kKey(32, 'k');

// A trail kept in memory, as a database holds it: someone who can write the database can cut it
// and put back a head they read before.
class MemoryTrail : public store::AuditStore {
 public:
  Status AppendAudit(const store::AuditLinker& link) override {
    auto linked = link(trail.head);
    if (!linked) return linked.error();
    trail.records.insert(trail.records.end(), linked->first.begin(), linked->first.end());
    trail.head = linked->second;
    return {};
  }
  Result<std::vector<store::AuditRecord>> ListAudit(const store::AuditQuery&) override { return trail.records; }
  Result<std::optional<store::AuditHead>> GetAuditHead() override { return trail.head; }
  Result<Trail> ReadTrail() override { return trail; }

  Trail trail;
};

class AuditMarkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/ap-mark-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Status Append(AuditMark* mark, const char* kind = "grant.approved") {
    return AppendAudit(db_, kKey, {AuditEvent{kind, "owner:alice", "", "", "{}"}}, 1795860000000, mark);
  }

  std::filesystem::path dir_;
  MemoryTrail db_;
};

TEST_F(AuditMarkTest, TheMarkFollowsEachAppendAndIsReadBack) {
  AuditMark mark(dir_ / "audit-mark");
  EXPECT_EQ(mark.Read().value(), std::nullopt) << "none before the first append";
  ASSERT_TRUE(Append(&mark));
  ASSERT_TRUE(Append(&mark));
  auto seen = mark.Read().value();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->head.seq, 2);
  EXPECT_EQ(seen->head.hash, db_.trail.head->hash);
  EXPECT_EQ(seen->first_hash, db_.trail.records[0].hash);
  auto intact = VerifyAudit(db_, kKey, &mark).value();
  EXPECT_FALSE(intact.broken);
  EXPECT_EQ(intact.unchecked, "");

  std::ofstream(dir_ / "audit-mark") << "2 not-a-hash\n";
  EXPECT_EQ(mark.Read().error().code, Errc::kUnavailable);
  auto unread = VerifyAudit(db_, kKey, &mark).value();
  EXPECT_FALSE(unread.broken) << "the chain is still checked";
  EXPECT_NE(unread.unchecked.find("is not a mark"), std::string::npos) << unread.unchecked;
  ASSERT_TRUE(Append(&mark)) << "the trail is not held up by a damaged mark";
  EXPECT_EQ(mark.Read().value()->head.seq, 3) << "which is written anew";
  for (const auto& entry : std::filesystem::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename(), "audit-mark") << "no file of a writer is left behind";
}

// The attack the chain alone cannot see: the end cut off and a head read earlier put back. The
// next append records the cut before its own events; verify names the cut as a break until then,
// and the recorded cut apart from a break after.
TEST_F(AuditMarkTest, AnEndCutOffBehindAnOlderRealHeadIsRecordedAndNamed) {
  AuditMark mark(dir_ / "audit-mark");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(&mark));
  store::AuditHead read_earlier = *db_.trail.head;  // seq 3
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Append(&mark, "grant.limits_changed"));
  std::string cut_head = db_.trail.head->hash;
  db_.trail.records.resize(3);
  db_.trail.head = read_earlier;
  EXPECT_FALSE(VerifyChain(kKey, db_.trail.records, db_.trail.head).broken) << "the chain alone sees nothing";

  auto verdict = VerifyAudit(db_, kKey, &mark).value();
  ASSERT_TRUE(verdict.broken);
  EXPECT_EQ(verdict.broken->seq, 4);
  EXPECT_NE(verdict.broken->problem.find("this machine saw it reach seq 5"), std::string::npos)
      << verdict.broken->problem;

  ASSERT_TRUE(Append(&mark));
  ASSERT_EQ(db_.trail.records.size(), 5u);
  EXPECT_EQ(db_.trail.records[3].kind, kAuditCutBack);
  EXPECT_EQ(db_.trail.records[3].detail, R"({"seenSeq":5,"seenHash":")" + cut_head + R"(","headSeq":3})");
  EXPECT_EQ(db_.trail.records[4].kind, "grant.approved");
  EXPECT_EQ(mark.Read().value()->head.seq, 5) << "the mark follows the trail on, the cut being recorded";
  verdict = VerifyAudit(db_, kKey, &mark).value();
  EXPECT_FALSE(verdict.broken);
  ASSERT_TRUE(verdict.recorded_cut) << "the recorded cut is named";
  EXPECT_EQ(verdict.recorded_cut->seq, 4);
  ASSERT_TRUE(Append(&mark));
  EXPECT_EQ(db_.trail.records.size(), 6u) << "recorded once, not at every append";
}

// A new database under the same data directory, or one emptied, is another trail: the mark starts
// again on it, no cut recorded; verify says it could not compare.
TEST_F(AuditMarkTest, AnotherTrailIsNoCut) {
  AuditMark mark(dir_ / "audit-mark");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(&mark));
  db_.trail = {};
  EXPECT_FALSE(VerifyAudit(db_, kKey, &mark)->broken) << "an emptied trail verifies, as the README says";
  ASSERT_TRUE(Append(&mark));
  EXPECT_EQ(db_.trail.records.size(), 1u);
  EXPECT_EQ(mark.Read().value()->head.seq, 1);

  MemoryTrail other;
  ASSERT_TRUE(AppendAudit(other, kKey, {AuditEvent{"owner.added", "cli", "", "", "{}"}}, 7, nullptr));
  ASSERT_TRUE(AppendAudit(other, kKey, {AuditEvent{"owner.added", "cli", "", "", "{}"}}, 8, nullptr));
  std::string elsewhere = other.trail.head->hash;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(&mark));  // this machine saw seq 4
  auto verdict = VerifyAudit(other, kKey, &mark).value();
  EXPECT_FALSE(verdict.broken);
  EXPECT_NE(verdict.unchecked.find("another trail"), std::string::npos) << verdict.unchecked;
  ASSERT_TRUE(AppendAudit(other, kKey, {AuditEvent{"owner.added", "cli", "", "", "{}"}}, 9, &mark));
  EXPECT_EQ(other.trail.records.size(), 3u) << "no cut recorded on another trail";
  EXPECT_EQ(mark.Read().value()->head.seq, 3);
  EXPECT_EQ(other.trail.records[1].hash, elsewhere);
}

// Record 1 altered while the end is cut (or a row put before it), then restored: the trail must not
// pass for another database's, which would start the mark again on it and hide the cut for good.
TEST_F(AuditMarkTest, ARecordOneThisKeyDidNotWriteIsNoOtherTrail) {
  AuditMark mark(dir_ / "audit-mark");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(&mark));
  store::AuditHead read_earlier = *db_.trail.head;
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Append(&mark));
  db_.trail.records.resize(3);
  db_.trail.head = read_earlier;
  std::string real = db_.trail.records[0].hash;
  db_.trail.records[0].hash = std::string(64, 'f');
  ASSERT_TRUE(Append(&mark));
  db_.trail.records[0].hash = real;
  ASSERT_TRUE(Append(&mark));
  auto verdict = VerifyAudit(db_, kKey, &mark).value();
  EXPECT_FALSE(verdict.broken);
  ASSERT_TRUE(verdict.recorded_cut) << "the cut was recorded";
  EXPECT_EQ(verdict.recorded_cut->seq, 4);
  EXPECT_EQ(verdict.unchecked, "");
}

TEST_F(AuditMarkTest, AnotherHeadAtTheSameSeqOfTheTrailIsACutToo) {
  AuditMark mark(dir_ / "audit-mark");
  ASSERT_TRUE(Append(&mark));
  ASSERT_TRUE(Append(&mark));
  SeenTrail seen = *mark.Read().value();
  store::AuditHead other = *db_.trail.head;
  other.hash = std::string(64, 'f');
  EXPECT_TRUE(CutBack(other, seen.first_hash, seen, "broker"));
  EXPECT_FALSE(CutBack(db_.trail.head, seen.first_hash, seen, "broker"));
  store::AuditHead further = *db_.trail.head;
  further.seq = 9;
  EXPECT_FALSE(CutBack(further, seen.first_hash, seen, "broker")) << "a trail past the mark is no cut";
  EXPECT_FALSE(CutBack(other, std::string(64, 'a'), seen, "broker")) << "another trail is no cut";
}

}  // namespace
}  // namespace ap::record
