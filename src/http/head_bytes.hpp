#pragma once
// Message heads kept as the bytes they go out as: an answer's (its status and fields) and a call's
// the broker makes upstream (its method, target and fields), each field an "Name: value\r\n" line.
// A relayed call's fields are all known as it is made (the app's few forwarded fields, the key,
// the provider's few passed fields, the grant's rate headers, the broker's own), and a Beast field
// map costs about 350 instructions a field to fill (an allocation, the name looked up, a
// case-blind ordered insert) only to be written out once; these heads are appended to instead.
// The server adds an answer's status line, its own fields and the framing (http/exchange.hpp,
// SendAnswer); the upstream client a call's request line, Host and framing (http/client.hpp).
// Thread-safety: none; one per message.

#include <boost/beast/http/verb.hpp>
#include <ostream>  // Beast 1.81's verb.hpp uses std::ostream without including it
#include <string>
#include <string_view>

namespace ap::http {

// Fields as lines.
struct FieldLines {
  std::string fields;  // "Name: value\r\n" lines

  // Appends a field. `name` is the code's own (a constant: asserted to be a name). One whose value
  // could end its line (CR, LF) is left out, so that no value ever adds a field of its own; false
  // then.
  bool Add(std::string_view name, std::string_view value);
  // Whether a field named `name` (compared without regard to case) is there.
  bool Has(std::string_view name) const;
};

struct AnswerHead : FieldLines {
  explicit AnswerHead(unsigned code = 200) : status(code) {}
  unsigned status;
};

// A call to an upstream, for HttpClient::Open: the target is the whole path and query.
struct CallHead : FieldLines {
  CallHead(boost::beast::http::verb verb, std::string_view path) : method(verb), target(path) {}
  boost::beast::http::verb method;
  std::string target;
};

}  // namespace ap::http
