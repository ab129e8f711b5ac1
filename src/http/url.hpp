#pragma once
// Upstream base URLs: an origin, optionally with a path prefix, to which provider paths are appended.

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace ap::http {

struct Origin {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path_prefix;  // without a trailing slash; may be empty

  // Appends "host:port" as the Host header wants it (port omitted when it is the scheme's default).
  void AppendHostHeader(std::string& out) const;
  std::string Key() const { return (tls ? "https://" : "http://") + host + ":" + port; }
};

// An absolute http or https URL with a host and no userinfo (an app's home page, a logo): shown
// to the owner, so "https://bank.example@evil.example" must not pass for a bank's page.
bool IsWebUrl(std::string_view text);

// `text` with every byte but the unreserved characters (RFC 3986: letters, digits, - . _ ~) and
// those in `keep` written as %XX.
std::string PercentEncode(std::string_view text, std::string_view keep = "");

// The host, and the port when one is written, of an absolute URL ("notes.example:8443"), as a
// browser would reach it; empty when `text` is not one.
std::string UrlHost(std::string_view text);

// Whether `target` is a path on this site, with an optional query, that every browser resolves
// against this origin: it starts with one '/' (not "//"), holds only the characters RFC 3986 allows
// in a path or query (no control characters, which browsers drop before parsing, no backslash,
// which they read as '/', no space or non-ASCII byte, no fragment) and has no scheme or authority.
bool IsSameOriginPath(std::string_view target);

// Accepts http and https URLs with no query, fragment or credentials.
Result<Origin> ParseBaseUrl(std::string_view url);

}  // namespace ap::http
