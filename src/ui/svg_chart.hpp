#pragma once
// Charts drawn by the server as SVG, so they need no script: a stacked bar chart with a title,
// both axes, the unit, a legend, and for each bar segment a <title> that reads aloud (and shows on
// hover) as "2026-11-30 gpt-4o $0.42". Everything app-supplied (series names) is escaped.
// Thread-safety: pure functions.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ap::ui {

// One segment: `value` of `series` (a model, an app) in `column` (a day, an hour).
struct ChartValue {
  std::string column;
  std::string series;
  int64_t value = 0;
};

struct ChartSpec {
  std::string id;                    // the figure's id; the SVG's title and desc ids derive from it
  std::string title;                 // "Spend per day"
  std::string unit;                  // "US dollars", shown on the y axis
  std::string x_label;               // "Day (UTC)"
  std::vector<std::string> columns;  // every column in order, those without values included
  std::vector<std::string> column_labels;           // what the x axis shows; empty: the columns
  std::function<std::string(int64_t)> format;       // a value as text: "$0.42", "1,200"
};

// A <figure> holding the SVG chart and its legend. Series are stacked in order of their totals,
// largest at the bottom; columns keep the spec's order; values in columns not in the spec are
// left out.
std::string StackedBarChart(const ChartSpec& spec, const std::vector<ChartValue>& values);

// The top of the value axis for a largest stack of `max`: 1, 2 or 5 times a power of ten, at
// least `max` (1 for 0).
int64_t NiceCeiling(int64_t max);

}  // namespace ap::ui
