#pragma once
// Reads the small text fields of a multipart/form-data body (RFC 7578) while the body streams
// past, without keeping the file parts: the relay learns the `model` of an upload before the
// upload's last byte goes upstream. Parts are split on the boundary exactly as a server would, so
// a file cannot smuggle in a field the server would not see.
// Thread-safety: none; one per body.

#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace ap::proxy {

// The boundary from a Content-Type such as `multipart/form-data; boundary=XyZ`.
Result<std::string> MultipartBoundary(std::string_view content_type);

class MultipartField {
 public:
  // Watches for the field `name` in a body delimited by `boundary`.
  MultipartField(std::string boundary, std::string name);
  // kBadRequest when the body is malformed, names the field twice, or the field is too long.
  Status Feed(std::string_view bytes);
  // The field's value once its part has ended; nullopt while unknown or absent.
  const std::optional<std::string>& Value() const { return value_; }

 private:
  enum class State { kPreamble, kHeaders, kBody, kDone };
  Status OnHeaders(std::string_view headers);
  Status OnBody(std::string_view bytes, bool part_ended);

  std::string delimiter_;  // "\r\n--" + boundary
  std::string name_;
  State state_ = State::kPreamble;
  std::string carry_;  // bytes that may start a delimiter, or unfinished part headers
  bool capturing_ = false;
  std::string capture_;
  std::optional<std::string> value_;
};

}  // namespace ap::proxy
