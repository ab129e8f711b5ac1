#pragma once
// JSON as the broker's answers write it. Boost.JSON writes every double in exponent form (0.0 as
// "0E0", 1.5 as "1.5E0"): valid, but not what a person or a strict reader of "3.5 seconds" expects.
// Here a double is written in its shortest decimal form ("0", "1.5", "1e+21" only when shorter),
// and a value that is not finite as null.

#include <boost/json/value.hpp>
#include <string>

namespace ap::http {

std::string JsonText(const boost::json::value& value);

}  // namespace ap::http
