#include "http/json_text.hpp"

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>

namespace ap::http {
namespace json = boost::json;
namespace {

template <class Number>
void WriteNumber(std::string& out, Number n) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, ec == std::errc() ? end : buf);
}

void Write(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case json::kind::int64:
      WriteNumber(out, v.get_int64());
      return;
    case json::kind::uint64:
      WriteNumber(out, v.get_uint64());
      return;
    case json::kind::double_:
      if (!std::isfinite(v.get_double()))
        out += "null";
      else
        WriteNumber(out, v.get_double());
      return;
    case json::kind::string:
      out += json::serialize(v.get_string());
      return;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        Write(out, item);
      }
      out += ']';
      return;
    }
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string_view(key));
        out += ':';
        Write(out, item);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

std::string JsonText(const json::value& value) {
  std::string out;
  Write(out, value);
  return out;
}

}  // namespace ap::http
