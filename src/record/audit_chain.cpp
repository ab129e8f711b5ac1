#include "record/audit_chain.hpp"

#include <unordered_map>

#include "crypto/hash.hpp"

namespace ap::record {
namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

void Field(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += ':';
  out += value;
  out += '\n';
}

std::string HeadMac(std::string_view key, int64_t seq, std::string_view hash) {
  return Hex(crypto::HmacSha256(key, "aipassport audit head\n" + std::to_string(seq) + "\n" + std::string(hash)));
}

std::string Seq(int64_t seq) { return "record " + std::to_string(seq); }

}  // namespace

std::string CanonicalRecord(const store::AuditRecord& r) {
  std::string out = "aipassport audit v1\n";
  Field(out, std::to_string(r.seq));
  Field(out, std::to_string(r.at));
  Field(out, r.owner_id);
  Field(out, r.actor);
  Field(out, r.kind);
  Field(out, r.grant_id);
  Field(out, r.detail);
  return out;
}

std::string LinkHash(std::string_view key, std::string_view prev_hash, const store::AuditRecord& record) {
  return Hex(crypto::HmacSha256(key, std::string(prev_hash) + "\n" + CanonicalRecord(record)));
}

store::AuditHead SealHead(std::string_view key, int64_t seq, std::string hash) {
  std::string mac = HeadMac(key, seq, hash);
  return store::AuditHead{seq, std::move(hash), std::move(mac)};
}

Result<std::pair<std::vector<store::AuditRecord>, store::AuditHead>> Link(std::string_view key,
                                                                           const std::optional<store::AuditHead>& head,
                                                                           const std::vector<AuditEvent>& events,
                                                                           UnixMillis at) {
  // A head this key did not seal (one moved back to a seq the tail was cut to, with a made-up MAC)
  // would be sealed anew by this append, and the cut would verify.
  if (head && (head->seq < 0 || head->hash.empty() ||
               !crypto::ConstantTimeEqual(HeadMac(key, head->seq, head->hash), head->mac)))
    return MakeError(Errc::kUnavailable, "the audit trail's head is damaged: run 'aipassport audit verify'");
  int64_t seq = head ? head->seq : 0;
  std::string prev = head ? head->hash : kGenesisHash;
  std::vector<store::AuditRecord> records;
  records.reserve(events.size());
  for (const auto& e : events) {
    store::AuditRecord r{++seq, e.at.value_or(at), e.owner_id, e.actor, e.kind, e.grant_id, e.detail, prev, ""};
    r.hash = LinkHash(key, prev, r);
    prev = r.hash;
    records.push_back(std::move(r));
  }
  return std::make_pair(std::move(records), SealHead(key, seq, prev));
}

ChainVerdict VerifyChain(std::string_view key, const std::vector<store::AuditRecord>& records,
                         const std::optional<store::AuditHead>& head) {
  ChainVerdict verdict;
  std::unordered_map<std::string, int64_t> seq_by_hash;  // where each stored hash says it was written
  for (const auto& r : records) seq_by_hash.emplace(r.hash, r.seq);
  auto broken = [&](int64_t seq, std::string problem) {
    verdict.broken = ChainBreak{seq, std::move(problem)};
    return verdict;
  };
  std::string prev = kGenesisHash;
  int64_t expected = 1;
  for (const auto& r : records) {
    ++verdict.records;
    if (r.seq != expected)
      return broken(expected, r.seq == expected + 1 ? Seq(expected) + " was removed"
                                                    : "records " + std::to_string(expected) + " to " +
                                                          std::to_string(r.seq - 1) + " were removed");
    if (crypto::ConstantTimeEqual(LinkHash(key, r.prev_hash, r), r.hash)) {
      if (r.prev_hash != prev)
        return broken(r.seq, Seq(r.seq) + " does not follow " + Seq(r.seq - 1) + ": records were removed or reordered");
      prev = r.hash;
      ++expected;
      continue;
    }
    // A record whose hash fits it under another seq was moved there.
    int64_t written_as = 1;
    if (r.prev_hash != kGenesisHash) {
      auto it = seq_by_hash.find(r.prev_hash);
      written_as = it == seq_by_hash.end() ? 0 : it->second + 1;
    }
    if (written_as > 0 && written_as != r.seq) {
      store::AuditRecord moved = r;
      moved.seq = written_as;
      if (crypto::ConstantTimeEqual(LinkHash(key, r.prev_hash, moved), r.hash))
        return broken(r.seq, Seq(r.seq) + " is out of order: it was written as " + Seq(written_as) +
                                 " (records were reordered)");
    }
    return broken(r.seq, Seq(r.seq) + " was edited" +
                             (r.seq == 1 ? " (or the master key is not the one the trail was written with)" : ""));
  }
  int64_t last = expected - 1;
  if (!head) {
    if (records.empty()) return verdict;
    return broken(last, "the trail's head is missing (it was removed from the settings table)");
  }
  if (!crypto::ConstantTimeEqual(HeadMac(key, head->seq, head->hash), head->mac))
    return broken(std::max<int64_t>(head->seq, 0), "the trail's head (seq " + std::to_string(head->seq) +
                                                       ") was altered: the trail may have been truncated");
  if (head->seq > last)
    return broken(last + 1, "the trail was truncated: " +
                                (head->seq == last + 1 ? Seq(last + 1) + " is"
                                                       : "records " + std::to_string(last + 1) + " to " +
                                                             std::to_string(head->seq) + " are") +
                                " missing from its end");
  if (head->seq < last) return broken(head->seq + 1, Seq(head->seq + 1) + " was added behind the broker's back");
  if (head->hash != prev) return broken(last, Seq(last) + " was replaced");
  for (const auto& r : records)
    if (r.kind == kAuditCutBack) {
      verdict.recorded_cut = ChainBreak{r.seq, Seq(r.seq) + " says its end had been cut off before it: " + r.detail};
      break;
    }
  return verdict;
}

}  // namespace ap::record
