#include "http/same_origin.hpp"

#include <algorithm>

namespace ap::http {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : static_cast<char>(c); });
  return out;
}

bool IsSafe(Verb method) { return method == Verb::get || method == Verb::head || method == Verb::options; }

}  // namespace

std::string OriginOf(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "";
  size_t path = url.find_first_of("/?#", scheme_end + 3);
  std::string origin = Lower(url.substr(0, path));
  // A browser's Origin leaves out the scheme's own port.
  if (origin.starts_with("https://") && origin.ends_with(":443")) origin.resize(origin.size() - 4);
  if (origin.starts_with("http://") && origin.ends_with(":80")) origin.resize(origin.size() - 3);
  return origin;
}

std::optional<std::string> CrossOriginReason(const Request& request, bool tls, std::string_view public_url) {
  if (IsSafe(request.method())) return std::nullopt;
  if (auto site = request.find("sec-fetch-site"); site != request.end()) {
    std::string value = Lower(site->value());
    if (value != "same-origin" && value != "none")
      return "this request came from another site (Sec-Fetch-Site: " + value + ")";
  }
  if (request.count(bhttp::field::origin) > 1) return std::string("this request names more than one Origin");
  if (auto origin = request.find(bhttp::field::origin); origin != request.end()) {
    std::string value = Lower(origin->value());
    if (value == "null") return std::string("this request came from a page without an origin (Origin: null)");
    auto host = request.find(bhttp::field::host);
    std::string own = (tls ? "https://" : "http://") + (host == request.end() ? std::string() : Lower(host->value()));
    bool public_origin = !public_url.empty() && value == OriginOf(public_url);
    if (!public_origin && (host == request.end() || value != own))
      return "this request came from another origin (" + value + ")";
  }
  return std::nullopt;
}

}  // namespace ap::http
