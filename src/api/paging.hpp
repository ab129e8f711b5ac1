#pragma once
// Pages of the owner's lists: the `limit` a request asks for, the opaque cursor that says where the
// next page starts, and the RFC 8288 `Link` that points at it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "store/store.hpp"

namespace ap::api {

// The request's `limit` query parameter: `fallback` when absent, a validation error (400) unless it
// is a whole number from 1 to `max`.
Result<int64_t> PageLimit(std::string_view target, int64_t fallback, int64_t max);

// The request's `cursor` query parameter (or `name`), as the `next` of a previous page wrote it;
// absent: the first page; a validation error when it is not one.
Result<std::optional<store::GrantCursor>> GrantCursorParam(std::string_view target, const std::string& name = "cursor");
std::string GrantCursorText(const store::GrantRecord& last);
std::string GrantCursorText(const store::GrantCursor& at);

// `</path?limit=N&cursor=C>; rel="next"`: a reference relative to the request's own URI.
std::string NextLink(std::string_view path, int64_t limit, std::string_view cursor);

// One page of a newest-first list, for a page's "Older" and "Newer" links. The store is asked for
// `limit + 1` rows: the row beyond the page says that more follow, without counting them.
template <typename Row>
struct PageOfRows {
  std::vector<Row> rows;  // newest first, at most `limit`
  bool older = false;     // rows older than the last one exist
  bool newer = false;     // rows newer than the first one exist
};

// `fetched`: newest first, read with `limit + 1`; toward older rows (the first page, or past an
// `Older` cursor) the extra row is the last one, toward newer rows (past a `Newer` cursor) the first.
// A page reached through a cursor has rows on the cursor's side.
template <typename Row>
PageOfRows<Row> ShapePage(std::vector<Row> fetched, int64_t limit, bool toward_newer, bool from_cursor) {
  PageOfRows<Row> page;
  bool more = static_cast<int64_t>(fetched.size()) > limit;
  if (more && toward_newer) fetched.erase(fetched.begin(), fetched.begin() + (fetched.size() - limit));
  if (more && !toward_newer) fetched.resize(static_cast<size_t>(limit));
  page.rows = std::move(fetched);
  page.older = toward_newer ? from_cursor : more;
  page.newer = toward_newer ? more : from_cursor;
  return page;
}

}  // namespace ap::api
