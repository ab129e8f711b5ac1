#pragma once
// For the crypto tests: hex test vectors and the Wycheproof JSON files under tests/data.

#include <boost/json/parse.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace ap::crypto::vectors {

inline std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

// A file of tests/data (AIPASSPORT_TEST_DATA), parsed.
inline boost::json::value LoadTestData(const std::string& relative_path) {
  std::ifstream in(std::string(AIPASSPORT_TEST_DATA) + "/" + relative_path);
  std::stringstream text;
  text << in.rdbuf();
  return boost::json::parse(text.str());
}

}  // namespace ap::crypto::vectors
