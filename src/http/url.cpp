#include "http/url.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>

namespace ap::http {

void Origin::AppendHostHeader(std::string& out) const {
  bool bracketed = host.find(':') != std::string::npos;  // an IPv6 address
  if (bracketed) out += '[';
  out += host;
  if (bracketed) out += ']';
  bool default_port = (tls && port == "443") || (!tls && port == "80");
  if (!default_port) out.append(":").append(port);
}

namespace {

// Boost.URL 1.81 reads "http://127.0.0.1.evil.example/" as host 127.0.0.1 and path
// ".evil.example/": after an authority, anything but an empty path or one from '/' was misread.
bool ReadAsBrowsersDo(const boost::urls::url_view& url) {
  std::string_view path = url.encoded_path();
  return !url.has_authority() || path.empty() || path.starts_with('/');
}

}  // namespace

bool IsWebUrl(std::string_view text) {
  std::string terminated(text);  // Boost.URL 1.81 reads to a NUL (see http/cookies.cpp)
  auto url = boost::urls::parse_absolute_uri(terminated);
  return url && (url->scheme() == "https" || url->scheme() == "http") && !url->host_address().empty() &&
         !url->has_userinfo() && ReadAsBrowsersDo(*url);
}

std::string UrlHost(std::string_view text) {
  std::string terminated(text);  // Boost.URL 1.81 reads to a NUL (see http/cookies.cpp)
  auto url = boost::urls::parse_uri(terminated);
  if (!url || !url->has_authority() || !ReadAsBrowsersDo(*url)) return {};
  return std::string(url->encoded_host_and_port());
}

bool IsSameOriginPath(std::string_view target) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-._~!$&'()*+,;=:@/?%").find(c) != std::string_view::npos;
  };
  if (!target.starts_with('/') || target.starts_with("//") || !std::all_of(target.begin(), target.end(), allowed))
    return false;
  std::string terminated(target);  // Boost.URL 1.81 reads to a NUL (see http/cookies.cpp)
  auto ref = boost::urls::parse_relative_ref(terminated);
  return ref && !ref->has_scheme() && !ref->has_authority() && !ref->has_fragment();
}

// How an error may name the URL `url`: its scheme and host as Boost.URL read them, never what may
// hold a secret (its user and password, a query's token, a webhook's path).
std::string ShownBaseUrl(const boost::urls::url_view& url) {
  bool more = url.has_userinfo() || !url.encoded_path().empty() || url.has_query() || url.has_fragment();
  return " '" + std::string(url.scheme()) + "://" + (url.has_userinfo() ? "***@" : "") +
         std::string(url.encoded_host_and_port()) + (more ? "/…'" : "'");
}

Result<Origin> ParseBaseUrl(std::string_view text) {
  std::string terminated(text);  // Boost.URL 1.81 reads to a NUL (see http/cookies.cpp)
  auto url = boost::urls::parse_absolute_uri(terminated);
  // Unread, it is not named at all: a password with a '/' would read as the host.
  if (!url || !ReadAsBrowsersDo(*url)) return MakeError(Errc::kBadRequest, "invalid base URL: not an absolute URL");
  auto bad = [&](std::string why) {
    return MakeError(Errc::kBadRequest, "invalid base URL" + ShownBaseUrl(*url) + ": " + why);
  };
  Origin o;
  if (url->scheme() == "https")
    o.tls = true;
  else if (url->scheme() != "http")
    return bad("the scheme must be http or https");
  if (url->has_userinfo()) return bad("credentials do not belong in the URL");
  if (url->has_query() || url->has_fragment()) return bad("no query or fragment allowed");
  o.host = url->host_address();
  if (o.host.empty()) return bad("no host");
  if (url->has_port() && url->port().empty()) return bad("an empty port");
  o.port = url->has_port() ? std::string(url->port()) : (o.tls ? "443" : "80");
  o.path_prefix = url->encoded_path();
  while (!o.path_prefix.empty() && o.path_prefix.back() == '/') o.path_prefix.pop_back();
  return o;
}

std::string PercentEncode(std::string_view text, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '.' || c == '_' || c == '~' || keep.find(static_cast<char>(c)) != std::string_view::npos;
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace ap::http
