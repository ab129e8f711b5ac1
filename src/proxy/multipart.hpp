#pragma once
// Reads the small text fields of a multipart/form-data body (RFC 7578) while the body streams
// past, without keeping the file parts: the relay learns the `model` of an upload before the
// upload's last byte goes upstream. The provider parses the same bytes with its own reader, so
// anything two readers could split or name differently is refused rather than guessed: a preamble,
// an epilogue, bare LF, folded or malformed part headers, duplicate or RFC 2231-encoded
// parameters, quoted values with a backslash or ';', a part that is not form-data.
// Thread-safety: none; one per body.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace ap::proxy {

// The boundary from a Content-Type such as `multipart/form-data; boundary=XyZ`; kBadRequest unless
// the header parses unambiguously and the boundary is valid per RFC 2046.
Result<std::string> MultipartBoundary(std::string_view content_type);

class MultipartField {
 public:
  // Watches for the field `name` in a body delimited by `boundary`.
  MultipartField(std::string boundary, std::string name);
  // Watches for the file part `name` instead: its Value() is the part's first `head_bytes` bytes (all
  // of it when shorter), known once they arrived.
  static MultipartField FileHead(std::string boundary, std::string name, size_t head_bytes);
  // kBadRequest when the body is malformed or ambiguous, names the field twice, or the field is
  // too long. Any split of a body into pieces gives the same result.
  Status Feed(std::string_view bytes);
  // kBadRequest unless the body fed so far is whole: it ended with the closing delimiter.
  Status Finish() const;
  // The field's value once its part has ended; nullopt while unknown or absent.
  const std::optional<std::string>& Value() const { return value_; }
  // From now on a part named otherwise than one of `names`, exactly, is refused (kBadRequest).
  void OnlyNames(std::vector<std::string> names) { only_names_ = std::move(names); }

 private:
  enum class State { kPreamble, kHeaders, kBody, kDone };
  Status Parse(std::string_view& rest);
  Status OnHeaders(std::string_view headers);
  Status OnBody(std::string_view bytes, bool part_ended);

  std::string delimiter_;  // "\r\n--" + boundary
  std::string name_;
  State state_ = State::kPreamble;
  std::string carry_;  // bytes that may start a delimiter, or unfinished part headers
  size_t epilogue_ = 0;
  size_t head_bytes_ = 0;  // FileHead's; 0 for a text field
  bool capturing_ = false;
  std::string capture_;
  std::optional<std::string> value_;
  std::vector<std::string> only_names_;  // empty: any
};

}  // namespace ap::proxy
