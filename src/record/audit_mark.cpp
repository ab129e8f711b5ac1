#include "record/audit_mark.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace ap::record {
namespace {

Error Unreadable(const std::filesystem::path& path, const std::string& why) {
  return InternalError(Errc::kUnavailable, "the audit mark " + path.string() + " " + why);
}

bool IsHash(const std::string& text) { return text.size() == kGenesisHash.size(); }

}  // namespace

Result<std::optional<SeenTrail>> AuditMark::Read() const {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec) && !ec) return std::optional<SeenTrail>();
  std::ifstream in(path_);
  if (!in) return Unreadable(path_, "cannot be read");
  SeenTrail seen;
  std::string end;
  if (!(in >> seen.head.seq >> seen.head.hash >> seen.first_hash) || seen.head.seq < 1 || !IsHash(seen.head.hash) ||
      !IsHash(seen.first_hash) || (in >> end))
    return Unreadable(path_, "is not a mark: remove it, and run 'aipassport audit verify'");
  return std::optional<SeenTrail>(std::move(seen));
}

Status AuditMark::Keep(const SeenTrail& seen) {
  std::string text = std::to_string(seen.head.seq) + " " + seen.head.hash + " " + seen.first_hash + "\n";
  std::string written = path_.string() + ".XXXXXX";
  int fd = ::mkstemp(written.data());
  bool kept = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  std::string why = fd < 0 ? std::strerror(errno) : kept ? "" : "it could not be written whole";
  if (fd >= 0) ::close(fd);
  if (kept && ::rename(written.c_str(), path_.c_str()) == 0) return {};
  if (kept) why = std::strerror(errno);
  if (fd >= 0) ::unlink(written.c_str());
  return InternalError(Errc::kStorageUnavailable, "the audit mark " + path_.string() + " could not be written: " + why);
}

std::optional<AuditEvent> CutBack(const std::optional<store::AuditHead>& head, std::string_view first_hash,
                                  const SeenTrail& seen, std::string actor) {
  if (!head || first_hash != seen.first_hash) return std::nullopt;  // another trail
  if (head->seq > seen.head.seq || (head->seq == seen.head.seq && head->hash == seen.head.hash)) return std::nullopt;
  boost::json::object detail{{"seenSeq", seen.head.seq}, {"seenHash", seen.head.hash}, {"headSeq", head->seq}};
  return AuditEvent{std::string(kAuditCutBack), std::move(actor), "", "", boost::json::serialize(detail)};
}

}  // namespace ap::record
