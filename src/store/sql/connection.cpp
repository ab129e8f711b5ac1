#include "store/sql/connection.hpp"

#include <algorithm>
#include <stdexcept>

namespace ap::store::sql {
namespace {

// Rows go in several per statement, in batches of these sizes, largest first, so few statement
// texts are prepared.
constexpr size_t kBatchRows[] = {64, 16, 4, 1};

std::string InsertSql(std::string_view table, std::string_view columns, size_t width, size_t rows) {
  std::string row = "(?";
  for (size_t c = 1; c < width; ++c) row += ", ?";
  row += ")";
  std::string sql = "INSERT INTO " + std::string(table) + " (" + std::string(columns) + ") VALUES ";
  for (size_t r = 0; r < rows; ++r) sql += (r == 0 ? "" : ", ") + row;
  return sql;
}

}  // namespace

size_t ColumnCount(std::string_view columns) { return std::count(columns.begin(), columns.end(), ',') + 1; }

void CheckWholeRows(std::string_view columns, const Values& rows) {
  if (rows.params().size() % ColumnCount(columns) != 0)
    throw std::logic_error("AppendRows: the values do not fill whole rows of " + std::string(columns));
}

int Connection::AppendRows(std::string_view table, std::string_view columns, const Values& rows) {
  CheckWholeRows(columns, rows);
  const auto& values = rows.params();
  size_t width = ColumnCount(columns);
  size_t total = values.size() / width, next = 0;
  for (size_t batch : kBatchRows) {
    if (total - next < batch) continue;
    std::string sql = InsertSql(table, columns, width, batch);
    for (; total - next >= batch; next += batch) {
      if (Run(sql, std::span(values).subspan(next * width, batch * width))->Next() != kDone) return kError;
    }
  }
  return kDone;
}

}  // namespace ap::store::sql
