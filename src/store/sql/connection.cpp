#include "store/sql/connection.hpp"

#include <algorithm>
#include <stdexcept>

namespace ap::store::sql {

size_t ColumnCount(std::string_view columns) { return std::count(columns.begin(), columns.end(), ',') + 1; }

void CheckWholeRows(std::string_view columns, const Values& rows) {
  if (rows.params().size() % ColumnCount(columns) != 0)
    throw std::logic_error("AppendRows: the values do not fill whole rows of " + std::string(columns));
}

}  // namespace ap::store::sql
