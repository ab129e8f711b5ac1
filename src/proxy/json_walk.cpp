#include "proxy/json_walk.hpp"

#include <boost/json/basic_parser_impl.hpp>

namespace ap::proxy::json_walk {
namespace {

namespace json = boost::json;

// Takes the one number a text of a number holds; anything else makes the parse fail.
class NumberTaker {
 public:
  static constexpr size_t max_array_size = 0;
  static constexpr size_t max_object_size = 0;
  static constexpr size_t max_string_size = 0;
  static constexpr size_t max_key_size = 0;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return false; }
  bool on_object_end(size_t, boost::system::error_code&) { return false; }
  bool on_array_begin(boost::system::error_code&) { return false; }
  bool on_array_end(size_t, boost::system::error_code&) { return false; }
  bool on_key_part(json::string_view, size_t, boost::system::error_code&) { return false; }
  bool on_key(json::string_view, size_t, boost::system::error_code&) { return false; }
  bool on_string_part(json::string_view, size_t, boost::system::error_code&) { return false; }
  bool on_string(json::string_view, size_t, boost::system::error_code&) { return false; }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code&) {
    number.kind = Number::kInt64;
    number.i = i;
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, boost::system::error_code&) {
    number.kind = Number::kUint64;
    number.u = u;
    return true;
  }
  bool on_double(double d, json::string_view, boost::system::error_code&) {
    number.kind = Number::kDouble;
    number.d = d;
    return true;
  }
  bool on_bool(bool, boost::system::error_code&) { return false; }
  bool on_null(boost::system::error_code&) { return false; }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return false; }
  bool on_comment(json::string_view, boost::system::error_code&) { return false; }

  Number number;
};

}  // namespace

Number ParseNumber(std::string_view from, size_t length) {
  // The options json::parse reads with, and the whole rest of the text: the parser reads a number
  // one way when enough bytes follow it and another way near the end of its input, and the two
  // can round a long mantissa differently.
  json::basic_parser<NumberTaker> parser(json::parse_options{});
  boost::system::error_code ec;
  size_t used = parser.write_some(false, from.data(), from.size(), ec);
  Number n = parser.handler().number;
  // The parser stops after the number and the blanks after it (what follows is not its concern).
  n.ok = !ec && used >= length &&
         from.substr(length, used - length).find_first_not_of(" \t\r\n") == std::string_view::npos;
  return n;
}

}  // namespace ap::proxy::json_walk
