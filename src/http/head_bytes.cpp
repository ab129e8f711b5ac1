#include "http/head_bytes.hpp"

#include <boost/beast/core/string.hpp>
#include <cassert>
#include <cstring>

namespace ap::http {

namespace {

bool EndsALine(std::string_view text) {
  return std::memchr(text.data(), '\r', text.size()) || std::memchr(text.data(), '\n', text.size());
}

}  // namespace

bool FieldLines::Add(std::string_view name, std::string_view value) {
  assert(!name.empty() && !EndsALine(name) && name.find(':') == std::string_view::npos);
  if (EndsALine(value)) return false;
  fields.append(name).append(": ").append(value).append("\r\n");
  return true;
}

bool FieldLines::Has(std::string_view name) const {
  std::string_view rest = fields;
  while (!rest.empty()) {
    size_t end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    if (boost::beast::iequals(line.substr(0, line.find(':')), name)) return true;
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 2);
  }
  return false;
}

}  // namespace ap::http
