#pragma once
// Pages of the owner's lists: the `limit` a request asks for, the opaque cursor that says where the
// next page starts, and the RFC 8288 `Link` that points at it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "store/store.hpp"

namespace ap::api {

// The request's `limit` query parameter: `fallback` when absent, a validation error (400) unless it
// is a whole number from 1 to `max`.
Result<int64_t> PageLimit(std::string_view target, int64_t fallback, int64_t max);

// The request's `cursor` query parameter, as the `next` of a previous page wrote it; absent: the
// first page; a validation error when it is not one.
Result<std::optional<store::GrantCursor>> GrantCursorParam(std::string_view target);
std::string GrantCursorText(const store::GrantRecord& last);

// `</path?limit=N&cursor=C>; rel="next"`: a reference relative to the request's own URI.
std::string NextLink(std::string_view path, int64_t limit, std::string_view cursor);

}  // namespace ap::api
