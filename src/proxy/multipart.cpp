#include "proxy/multipart.hpp"

#include <algorithm>
#include <cctype>

namespace ap::proxy {
namespace {

constexpr size_t kMaxHeaders = 8 << 10;
constexpr size_t kMaxField = 1 << 10;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The value of `param` (`name="model"`) in a header's parameters, quotes removed.
std::optional<std::string> Parameter(std::string_view header, std::string_view param) {
  std::string lower = Lower(header);
  std::string key = std::string(param) + "=";
  size_t at = 0;
  while ((at = lower.find(key, at)) != std::string::npos) {
    bool starts_word = at == 0 || lower[at - 1] == ';' || lower[at - 1] == ' ' || lower[at - 1] == '\t';
    at += key.size();
    if (!starts_word) continue;
    std::string_view rest = header.substr(at);
    if (!rest.empty() && rest.front() == '"') {
      size_t end = rest.find('"', 1);
      if (end == std::string_view::npos) return std::nullopt;
      return std::string(rest.substr(1, end - 1));
    }
    return std::string(rest.substr(0, rest.find_first_of("; \t\r\n")));
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  if (!Lower(content_type).starts_with("multipart/form-data"))
    return MakeError(Errc::kBadRequest, "Expected a multipart/form-data body");
  auto boundary = Parameter(content_type, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70)
    return MakeError(Errc::kBadRequest, "The multipart/form-data body has no valid boundary");
  return *boundary;
}

MultipartField::MultipartField(std::string boundary, std::string name)
    : delimiter_("\r\n--" + std::move(boundary)), name_(std::move(name)), carry_("\r\n") {}

Status MultipartField::Feed(std::string_view bytes) {
  carry_.append(bytes);
  std::string_view data = carry_;
  size_t used = 0;
  Status status;
  while (status && state_ != State::kDone) {
    std::string_view rest = data.substr(used);
    if (state_ == State::kHeaders) {
      size_t end = rest.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (rest.size() > kMaxHeaders) return MakeError(Errc::kBadRequest, "A multipart part has too many headers");
        break;
      }
      status = OnHeaders(rest.substr(0, end));
      used += end + 4;
      state_ = State::kBody;
      continue;
    }
    size_t at = rest.find(delimiter_);
    if (at == std::string_view::npos) {
      // Keep what could be the start of a delimiter; the rest is part body (or preamble).
      size_t keep = std::min(rest.size(), delimiter_.size() - 1);
      if (state_ == State::kBody) status = OnBody(rest.substr(0, rest.size() - keep), false);
      used += rest.size() - keep;
      break;
    }
    // After a delimiter: "--" ends the body, CRLF starts the next part's headers.
    if (rest.size() < at + delimiter_.size() + 2) {
      if (state_ == State::kBody) status = OnBody(rest.substr(0, at), false);
      used += at;
      break;
    }
    if (state_ == State::kBody) status = OnBody(rest.substr(0, at), true);
    std::string_view after = rest.substr(at + delimiter_.size(), 2);
    used += at + delimiter_.size() + 2;
    if (after == "--")
      state_ = State::kDone;
    else if (after == "\r\n")
      state_ = State::kHeaders;
    else
      return MakeError(Errc::kBadRequest, "Malformed multipart/form-data body");
  }
  if (!status) return status;
  carry_.erase(0, used);
  if (state_ == State::kDone) carry_.clear();
  return {};
}

Status MultipartField::OnHeaders(std::string_view headers) {
  capturing_ = false;
  std::string lower = Lower(headers);
  size_t at = lower.find("content-disposition:");
  if (at == std::string::npos) return {};
  std::string_view line = headers.substr(at);
  line = line.substr(0, line.find("\r\n"));
  if (Parameter(line, "name") != name_) return {};
  if (value_) return MakeError(Errc::kBadRequest, "The field '" + name_ + "' appears more than once");
  capturing_ = true;
  capture_.clear();
  return {};
}

Status MultipartField::OnBody(std::string_view bytes, bool part_ended) {
  if (!capturing_) return {};
  if (capture_.size() + bytes.size() > kMaxField)
    return MakeError(Errc::kBadRequest, "The field '" + name_ + "' is too long");
  capture_.append(bytes);
  if (part_ended) {
    value_ = std::move(capture_);
    capturing_ = false;
  }
  return {};
}

}  // namespace ap::proxy
