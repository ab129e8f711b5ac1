#pragma once
// The console's download of the call log (CSV or JSON Lines), written as it is read: one page of
// rows is read on the store thread and sent before the next is read, so a download of any size
// holds one page in memory and has no row cap.

#include <boost/asio/awaitable.hpp>
#include <string>

#include "api/broker_context.hpp"
#include "http/exchange.hpp"
#include "http/message.hpp"
#include "store/record_store.hpp"

namespace ap::ui {

enum class DownloadFormat { kCsv, kJsonLines };

// Rows read from the store per page of a download.
inline constexpr int64_t kDownloadPageRows = 1000;

// Sends every row `query` selects (its limit and cursor are the download's own), newest first, as
// a chunked attachment named `filename`. An error means the store failed before anything was sent:
// the caller answers it. A later store failure, or a client gone, cuts the answer short (the
// connection closes, so the client sees a truncated download, never a complete-looking one).
boost::asio::awaitable<Status> DownloadActivity(api::BrokerContext& ctx, http::Exchange& exchange,
                                                const store::ActivityQuery& selected, DownloadFormat format,
                                                const std::string& filename);

}  // namespace ap::ui
