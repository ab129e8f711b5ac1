#include "record/audit_mark.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace ap::record {
namespace {

Error Unreadable(const std::filesystem::path& path, const std::string& why) {
  return MakeError(Errc::kUnavailable, "the audit mark " + path.string() + " " + why);
}

}  // namespace

Result<std::optional<store::AuditHead>> AuditMark::Read() const {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec) && !ec) return std::optional<store::AuditHead>();
  std::ifstream in(path_);
  if (!in) return Unreadable(path_, "cannot be read");
  store::AuditHead mark;
  std::string end;
  if (!(in >> mark.seq >> mark.hash) || mark.seq < 1 || mark.hash.size() != kGenesisHash.size() || (in >> end))
    return Unreadable(path_, "is not a mark: remove it, and run 'aipassport audit verify'");
  return std::optional<store::AuditHead>(std::move(mark));
}

Status AuditMark::Keep(const store::AuditHead& head) {
  std::filesystem::path written = path_;
  written += ".new";
  std::string text = std::to_string(head.seq) + " " + head.hash + "\n";
  int fd = ::open(written.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool kept = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int error = errno;
  if (fd >= 0) ::close(fd);
  if (kept && ::rename(written.c_str(), path_.c_str()) == 0) return {};
  if (kept) error = errno;
  return MakeError(Errc::kStorageUnavailable,
                   "the audit mark " + path_.string() + " could not be written: " + std::strerror(error));
}

std::optional<AuditEvent> CutBack(const std::optional<store::AuditHead>& head, const store::AuditHead& mark,
                                  std::string actor) {
  int64_t seq = head ? head->seq : 0;
  if (seq > mark.seq || (seq == mark.seq && head->hash == mark.hash)) return std::nullopt;
  boost::json::object detail{{"seenSeq", mark.seq}, {"seenHash", mark.hash}, {"headSeq", seq}};
  return AuditEvent{std::string(kAuditCutBack), std::move(actor), "", "", boost::json::serialize(detail)};
}

}  // namespace ap::record
