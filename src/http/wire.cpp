#include "http/wire.hpp"

#include <charconv>

namespace ap::http {

namespace {

void AppendVersion(unsigned version, std::string& out) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
}

template <class Fields>
void AppendFields(const Fields& fields, std::string& out) {
  for (const auto& field : fields) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace

void AppendStatusLine(unsigned version, unsigned code, std::string_view reason, std::string& out) {
  AppendVersion(version, out);
  out += ' ';
  out += static_cast<char>('0' + code / 100 % 10);
  out += static_cast<char>('0' + code / 10 % 10);
  out += static_cast<char>('0' + code % 10);
  out += ' ';
  out += reason;
  out += "\r\n";
}

void AppendFraming(std::optional<uint64_t> length, std::string& out) {
  if (!length) {
    out += "Transfer-Encoding: chunked\r\n";
    return;
  }
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), *length);
  out.append("Content-Length: ").append(digits, end).append("\r\n");
}

void AppendHead(const Response& message, std::string& out) {
  // The set reason, or the status's usual one.
  AppendStatusLine(message.version(), message.result_int(), message.reason(), out);
  AppendFields(message.base(), out);
}

}  // namespace ap::http
