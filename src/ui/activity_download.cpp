#include "ui/activity_download.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>

#include "record/record_json.hpp"

namespace ap::ui {
using boost::asio::awaitable;
namespace bhttp = http::bhttp;

namespace {

using Page = Result<std::vector<store::ActivityRecord>>;

awaitable<Page> ReadPage(api::BrokerContext& ctx, const store::ActivityQuery& query) {
  auto read = [query](store::Store& st) { return st.Activity().ListActivity(query); };
  co_return co_await api::OnStoreRead(ctx, std::move(read));
}

}  // namespace

awaitable<Status> DownloadActivity(api::BrokerContext& ctx, http::Exchange& exchange,
                                   const store::ActivityQuery& selected, DownloadFormat format,
                                   const std::string& filename) {
  bool csv = format == DownloadFormat::kCsv;
  store::ActivityQuery query = selected;
  query.limit = kDownloadPageRows;
  query.after.reset();
  // The first page is read before the answer starts, so a store failure can still be told plainly.
  Page rows = co_await ReadPage(ctx, query);
  if (!rows) co_return rows.error();
  http::AnswerHead head;
  head.Add("Content-Type", csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
  head.Add("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  head.Add("Cache-Control", "no-store");  // X-Content-Type-Options: every answer has it (api/dispatcher.cpp)
  exchange.StartAnswer(head);
  std::string text = csv ? record::ActivityCsvHeader() : std::string();
  for (;;) {
    for (const auto& row : *rows)
      text += csv ? record::ActivityCsvLine(row) : boost::json::serialize(record::ActivityToJson(row)) + "\n";
    if (!co_await exchange.WritePiece(text)) co_return Status{};
    if (static_cast<int64_t>(rows->size()) < query.limit) break;
    query.after = store::RecordCursor{rows->back().at, rows->back().id};
    text.clear();
    rows = co_await ReadPage(ctx, query);
    if (!rows) {
      spdlog::warn("an activity download was cut short: {}", rows.error().message);
      co_return Status{};
    }
  }
  co_await exchange.EndAnswer({});
  co_return Status{};
}

}  // namespace ap::ui
