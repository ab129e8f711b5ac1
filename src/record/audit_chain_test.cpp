#include "record/audit_chain.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace ap::record {
namespace {

const std::string kKey(32, 'k');

struct Trail {
  std::vector<store::AuditRecord> records;
  std::optional<store::AuditHead> head;
};

// A trail of `n` records appended in two batches, as the broker and a command would.
Trail MakeTrail(int n) {
  Trail t;
  std::vector<AuditEvent> first, second;
  for (int i = 1; i <= n; ++i)
    (i <= n / 2 ? first : second)
        .push_back(AuditEvent{"grant.approved", "owner:alice", "owner-1", "grant-" + std::to_string(i),
                              "{\"n\":" + std::to_string(i) + "}"});
  for (const auto* batch : {&first, &second}) {
    auto linked = Link(kKey, t.head, *batch, 1795860000000 + static_cast<int64_t>(t.records.size()));
    EXPECT_TRUE(linked);
    t.records.insert(t.records.end(), linked->first.begin(), linked->first.end());
    t.head = linked->second;
  }
  return t;
}

ChainVerdict Verify(const Trail& t) { return VerifyChain(kKey, t.records, t.head); }

TEST(AuditChain, AnIntactTrailVerifies) {
  Trail t = MakeTrail(6);
  ASSERT_EQ(t.records.size(), 6u);
  EXPECT_EQ(t.records[0].seq, 1);
  EXPECT_EQ(t.records[0].prev_hash, kGenesisHash);
  EXPECT_EQ(t.records[3].prev_hash, t.records[2].hash);
  EXPECT_EQ(t.head->seq, 6);
  ChainVerdict v = Verify(t);
  EXPECT_FALSE(v.broken) << v.broken->problem;
  EXPECT_EQ(v.records, 6);
  EXPECT_FALSE(VerifyChain(kKey, {}, std::nullopt).broken);
}

TEST(AuditChain, AnEditedFieldIsNamedByItsSeq) {
  for (int field = 0; field < 6; ++field) {
    Trail t = MakeTrail(6);
    store::AuditRecord& r = t.records[3];
    switch (field) {
      case 0: r.at += 1; break;
      case 1: r.owner_id = "owner-2"; break;
      case 2: r.actor = "cli"; break;
      case 3: r.kind = "grant.denied"; break;
      case 4: r.grant_id = "grant-x"; break;
      case 5: r.detail = "{\"n\":40}"; break;
    }
    ChainVerdict v = Verify(t);
    ASSERT_TRUE(v.broken) << field;
    EXPECT_EQ(v.broken->seq, 4);
    EXPECT_NE(v.broken->problem.find("record 4 was edited"), std::string::npos) << v.broken->problem;
  }
}

TEST(AuditChain, AnEditWithARecomputedPlainHashIsStillCaught) {
  // Without the key, the best an editor can do is a hash of their own: it does not fit.
  Trail t = MakeTrail(4);
  t.records[1].detail = "{}";
  t.records[1].hash = LinkHash(std::string(32, 'x'), t.records[1].prev_hash, t.records[1]);
  t.records[2].prev_hash = t.records[1].hash;
  ChainVerdict v = Verify(t);
  ASSERT_TRUE(v.broken);
  EXPECT_EQ(v.broken->seq, 2);
}

TEST(AuditChain, ARemovedRecordIsNamed) {
  Trail t = MakeTrail(6);
  t.records.erase(t.records.begin() + 2);  // seq 3
  ChainVerdict v = Verify(t);
  ASSERT_TRUE(v.broken);
  EXPECT_EQ(v.broken->seq, 3);
  EXPECT_NE(v.broken->problem.find("record 3 was removed"), std::string::npos) << v.broken->problem;

  Trail first = MakeTrail(3);
  first.records.erase(first.records.begin());
  v = Verify(first);
  ASSERT_TRUE(v.broken);
  EXPECT_EQ(v.broken->seq, 1);
}

TEST(AuditChain, SwappedRecordsAreNamedAsReordered) {
  Trail t = MakeTrail(6);
  // As an UPDATE that swaps two rows' seq would leave them.
  std::swap(t.records[1].seq, t.records[4].seq);
  std::sort(t.records.begin(), t.records.end(), [](auto& a, auto& b) { return a.seq < b.seq; });
  ChainVerdict v = Verify(t);
  ASSERT_TRUE(v.broken);
  EXPECT_EQ(v.broken->seq, 2);
  EXPECT_NE(v.broken->problem.find("out of order: it was written as record 5"), std::string::npos)
      << v.broken->problem;
}

TEST(AuditChain, RenumberedRecordsAfterARemovalAreCaught) {
  Trail t = MakeTrail(5);
  t.records.erase(t.records.begin() + 1);
  for (size_t i = 1; i < t.records.size(); ++i) t.records[i].seq = static_cast<int64_t>(i) + 1;
  ChainVerdict v = Verify(t);
  ASSERT_TRUE(v.broken);
  EXPECT_EQ(v.broken->seq, 2);
}

TEST(AuditChain, TruncationShowsAgainstTheHead) {
  Trail t = MakeTrail(6);
  t.records.resize(4);
  ChainVerdict v = Verify(t);
  ASSERT_TRUE(v.broken);
  EXPECT_EQ(v.broken->seq, 5);
  EXPECT_NE(v.broken->problem.find("truncated"), std::string::npos);

  t.records.clear();
  v = Verify(t);
  ASSERT_TRUE(v.broken);
  EXPECT_EQ(v.broken->seq, 1);
}

TEST(AuditChain, AHeadMovedBackToHideACutIsCaught) {
  Trail t = MakeTrail(6);
  t.records.resize(4);
  t.head->seq = 4;
  t.head->hash = t.records[3].hash;  // the MAC no longer fits
  ChainVerdict v = Verify(t);
  ASSERT_TRUE(v.broken);
  EXPECT_NE(v.broken->problem.find("head"), std::string::npos);

  Trail gone = MakeTrail(3);
  gone.head.reset();
  v = Verify(gone);
  ASSERT_TRUE(v.broken);
  EXPECT_NE(v.broken->problem.find("head is missing"), std::string::npos);
}

TEST(AuditChain, AnotherKeyDoesNotVerify) {
  Trail t = MakeTrail(3);
  ChainVerdict v = VerifyChain(std::string(32, 'z'), t.records, t.head);
  ASSERT_TRUE(v.broken);
  EXPECT_EQ(v.broken->seq, 1);
}

TEST(AuditChain, FieldsCannotBleedIntoEachOther) {
  store::AuditRecord a{1, 0, "ab", "c", "k", "", "{}", kGenesisHash, ""};
  store::AuditRecord b{1, 0, "a", "bc", "k", "", "{}", kGenesisHash, ""};
  EXPECT_NE(CanonicalRecord(a), CanonicalRecord(b));
}

// An event the store could not take at once (an outage) is filed at the time it happened.
TEST(AuditChain, AnEventKeepsTheTimeItHappened) {
  AuditEvent then{"grant.revoked", "owner:alice", "", "", "{}", 1795860000000};
  AuditEvent unstamped{"grant.revoked", "owner:alice", "", "", "{}"};
  auto linked = Link(kKey, std::nullopt, {then, unstamped}, 1795863600000);
  ASSERT_TRUE(linked);
  EXPECT_EQ(linked->first[0].at, 1795860000000);
  EXPECT_EQ(linked->first[1].at, 1795863600000);
  EXPECT_FALSE(VerifyChain(kKey, linked->first, linked->second).broken);
}

TEST(AuditChain, ADamagedHeadRefusesToLink) {
  store::AuditHead damaged{-1, "", ""};
  EXPECT_FALSE(Link(kKey, damaged, {AuditEvent{"x", "cli", "", "", "{}"}}, 0));
  // The end cut off and the head moved back with a made-up MAC: sealed anew by the next append,
  // the cut would verify.
  Trail t = MakeTrail(6);
  t.records.resize(4);
  store::AuditHead forged{4, t.records[3].hash, "forged"};
  EXPECT_FALSE(Link(kKey, forged, {AuditEvent{"x", "cli", "", "", "{}"}}, 0));
  store::AuditHead sealed_elsewhere{4, t.records[3].hash, SealHead(std::string(32, 'z'), 4, t.records[3].hash).mac};
  EXPECT_FALSE(Link(kKey, sealed_elsewhere, {AuditEvent{"x", "cli", "", "", "{}"}}, 0)) << "under another key";
}

}  // namespace
}  // namespace ap::record
