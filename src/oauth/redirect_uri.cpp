#include "oauth/redirect_uri.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace ap::oauth {
namespace {

constexpr size_t kMaxLength = 2048;

struct RedirectUri {
  std::string scheme;
  std::string host;  // as written: "127.0.0.1", "[::1]", "app.example"
  std::string port;  // empty when none is written
  std::string rest;  // the path and the query
  bool loopback = false;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Lowercase letters, digits and '-' in labels of 1 to 63 characters joined by single dots. The
// last label may not start with a digit: browsers read "127.1" or "0x7f.1" as an IPv4 address.
bool IsDnsName(std::string_view host) {
  if (host.size() > 253) return false;
  std::string_view label;
  while (true) {
    size_t dot = host.find('.');
    label = host.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-'; }))
      return false;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
  }
  return !IsDigit(label.front());
}

// Split by hand: Boost.URL's segment views hide a leading "." segment.
bool HasDotSegment(std::string_view path) {
  while (!path.empty()) {
    path.remove_prefix(1);
    std::string_view segment = path.substr(0, path.find('/'));
    if (segment == "." || segment == "..") return true;
    path.remove_prefix(segment.size());
  }
  return false;
}

bool IsUpperHex(char c) { return IsDigit(c) || (c >= 'A' && c <= 'F'); }

// RFC 3986 §6.2.2: a triplet has uppercase hex digits and never stands for an unreserved character
// (so "%2e%2e" cannot hide a ".." segment). Boost.URL 1.81's normalize() also decodes "%2F": not used.
bool CanonicalPercentEncoding(std::string_view text) {
  for (size_t i = text.find('%'); i != std::string_view::npos; i = text.find('%', i + 1)) {
    if (i + 2 >= text.size() || !IsUpperHex(text[i + 1]) || !IsUpperHex(text[i + 2])) return false;
    char c = static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~')
      return false;
  }
  return true;
}

Result<RedirectUri> ParseRedirectUri(std::string_view text) {
  bool printable = std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  std::string name =
      printable && text.size() <= kMaxLength ? "redirect URI '" + std::string(text) + "'" : "a redirect URI";
  auto refuse = [&](std::string_view why) { return MakeError(Errc::kValidation, name + " " + std::string(why)); };
  if (text.size() > kMaxLength) return refuse("is longer than 2048 characters");
  if (!printable) return refuse("has a space, a control character or a non-ASCII character");
  if (text.find('\\') != std::string_view::npos) return refuse("has a backslash");
  std::string terminated(text);  // Boost.URL 1.81 reads to a NUL (see http/cookies.cpp)
  auto parsed = boost::urls::parse_uri(terminated);
  if (!parsed) return refuse("is not an absolute URI");
  const boost::urls::url_view& u = *parsed;
  if (u.has_fragment()) return refuse("has a fragment");
  // Boost.URL 1.81 reads "http://127.0.0.1.evil.example/" as host 127.0.0.1 and path ".evil.example/".
  std::string_view path = u.encoded_path();
  if (!path.empty() && !path.starts_with('/')) return refuse("has a host that cannot be read unambiguously");
  if (!u.has_authority() || u.encoded_host().empty()) return refuse("has no host");
  if (u.has_userinfo() || u.encoded_authority().find('@') != boost::urls::string_view::npos)
    return refuse("has userinfo ('@') before its host");

  RedirectUri uri;
  uri.scheme = std::string(u.scheme());
  uri.host = std::string(u.encoded_host());
  bool loopback_host = uri.host == "127.0.0.1" || uri.host == "[::1]";
  if (uri.scheme == "http" && !loopback_host)
    return refuse("must be https, or http on 127.0.0.1 or [::1] (a native app)");
  if (uri.scheme != "https" && uri.scheme != "http")
    return refuse("must be https, or http on 127.0.0.1 or [::1] (a native app), in lowercase");
  uri.loopback = uri.scheme == "http";
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      break;
    case boost::urls::host_type::ipv6:
      if (uri.host != "[::1]") return refuse("has an IPv6 address other than [::1]");
      break;
    case boost::urls::host_type::name:
      if (!IsDnsName(uri.host))
        return refuse(
            "needs a host name in lowercase letters, digits, '-' and single dots, not ending in a dot or a number");
      break;
    default:
      return refuse("has a host that is not a name or an IP address");
  }
  if (u.has_port()) {
    uri.port = std::string(u.port());
    if (uri.port.empty() || uri.port.front() == '0' || uri.port.size() > 5 || std::stoi(uri.port) > 65535)
      return refuse("has an empty or malformed port");
    if (uri.port == (uri.scheme == "https" ? "443" : "80")) return refuse("names its scheme's default port");
  }
  if (path.empty()) return refuse("needs a path (at least '/')");
  if (HasDotSegment(path)) return refuse("has a '.' or '..' segment");
  if (!CanonicalPercentEncoding(text))
    return refuse("is not in canonical form: percent-encode only what must be, with uppercase hex digits");
  uri.rest = std::string(path) + (u.has_query() ? "?" + std::string(u.encoded_query()) : "");
  // Only a URI that is exactly the parts compared is accepted: nothing the parser skipped over.
  if (uri.scheme + "://" + uri.host + (uri.port.empty() ? "" : ":" + uri.port) + uri.rest != text)
    return refuse("cannot be read unambiguously");
  return uri;
}

}  // namespace

Status CheckRedirectUri(std::string_view uri) {
  auto parsed = ParseRedirectUri(uri);
  if (!parsed) return parsed.error();
  return {};
}

bool RedirectMatches(std::string_view registered, std::string_view presented) {
  auto r = ParseRedirectUri(registered);
  auto p = ParseRedirectUri(presented);
  if (!r || !p) return false;
  return r->scheme == p->scheme && r->host == p->host && r->rest == p->rest &&
         (r->port == p->port || (r->loopback && p->loopback));
}

std::string RedirectOrigin(std::string_view uri) {
  auto parsed = ParseRedirectUri(uri);
  if (!parsed) return {};
  return parsed->scheme + "://" + parsed->host + (parsed->port.empty() ? "" : ":" + parsed->port);
}

}  // namespace ap::oauth
