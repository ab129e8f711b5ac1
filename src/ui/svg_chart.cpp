#include "ui/svg_chart.hpp"

#include <algorithm>
#include <map>

#include "ui/html.hpp"

namespace ap::ui {
namespace {

constexpr int kWidth = 640;
constexpr int kHeight = 260;
constexpr int kLeft = 72;
constexpr int kRight = 12;
constexpr int kTop = 12;
constexpr int kBottom = 48;
// Distinguishable for the common forms of colour blindness (Okabe-Ito), then repeated.
constexpr const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                    "#56B4E9", "#D55E00", "#F0E442", "#000000"};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.substr(s.size() - 2) == ".0") s.resize(s.size() - 2);
  return s;
}

}  // namespace

int64_t NiceCeiling(int64_t max) {
  if (max <= 1) return 1;
  int64_t power = 1;
  while (power <= max / 10) power *= 10;
  for (int64_t step : {1, 2, 5, 10})
    if (step * power >= max) return step * power;
  return 10 * power;
}

std::string StackedBarChart(const ChartSpec& spec, const std::vector<ChartValue>& values) {
  std::map<std::string, size_t> column_index;
  for (size_t i = 0; i < spec.columns.size(); ++i) column_index.emplace(spec.columns[i], i);
  // cells[column][series] and each series' total
  std::map<std::string, int64_t> totals;
  std::vector<std::map<std::string, int64_t>> cells(spec.columns.size());
  for (const auto& v : values) {
    auto it = column_index.find(v.column);
    if (it == column_index.end() || v.value <= 0) continue;
    cells[it->second][v.series] += v.value;
    totals[v.series] += v.value;
  }
  std::vector<std::string> series;
  for (const auto& [name, total] : totals) series.push_back(name);
  std::stable_sort(series.begin(), series.end(),
                   [&totals](const std::string& a, const std::string& b) { return totals[a] > totals[b]; });
  int64_t largest = 0;
  for (const auto& column : cells) {
    int64_t sum = 0;
    for (const auto& [name, value] : column) sum += value;
    largest = std::max(largest, sum);
  }
  int64_t top = NiceCeiling(largest);
  auto format = spec.format ? spec.format : [](int64_t v) { return std::to_string(v); };

  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  const double base_y = kTop + plot_h;
  std::string id = Escape(spec.id);
  std::string svg = "<svg class=\"chart\" viewBox=\"0 0 " + std::to_string(kWidth) + " " + std::to_string(kHeight) +
                    "\" role=\"img\" aria-labelledby=\"" + id + "-title " + id + "-desc\"><title id=\"" + id +
                    "-title\">" + Escape(spec.title) + " (" + Escape(spec.unit) + ")</title><desc id=\"" + id +
                    "-desc\">";
  if (series.empty()) {
    svg += "Nothing in this period.";
  } else {
    for (size_t i = 0; i < series.size(); ++i)
      svg += (i ? "; " : "") + Escape(series[i]) + " " + Escape(format(totals[series[i]]));
    svg += ".";
  }
  svg += "</desc>";
  // Grid lines and value labels at 0, half and the top.
  for (int step = 0; step <= 2; ++step) {
    double y = base_y - plot_h * step / 2;
    svg += "<line class=\"grid\" x1=\"" + std::to_string(kLeft) + "\" x2=\"" + std::to_string(kWidth - kRight) +
           "\" y1=\"" + Num(y) + "\" y2=\"" + Num(y) + "\" stroke=\"#ddd\"/>";
    svg += "<text class=\"tick\" x=\"" + std::to_string(kLeft - 6) + "\" y=\"" + Num(y + 4) +
           "\" text-anchor=\"end\" font-size=\"12\">" + Escape(format(top * step / 2)) + "</text>";
  }
  svg += "<line class=\"axis\" x1=\"" + std::to_string(kLeft) + "\" x2=\"" + std::to_string(kLeft) + "\" y1=\"" +
         std::to_string(kTop) + "\" y2=\"" + Num(base_y) + "\" stroke=\"#555\"/>";
  svg += "<line class=\"axis\" x1=\"" + std::to_string(kLeft) + "\" x2=\"" + std::to_string(kWidth - kRight) +
         "\" y1=\"" + Num(base_y) + "\" y2=\"" + Num(base_y) + "\" stroke=\"#555\"/>";
  svg += "<text class=\"unit\" transform=\"rotate(-90)\" x=\"" + Num(-(kTop + plot_h / 2)) +
         "\" y=\"14\" text-anchor=\"middle\" font-size=\"12\">" + Escape(spec.unit) + "</text>";
  svg += "<text class=\"x-label\" x=\"" + Num(kLeft + plot_w / 2) + "\" y=\"" + std::to_string(kHeight - 4) +
         "\" text-anchor=\"middle\" font-size=\"12\">" + Escape(spec.x_label) + "</text>";

  size_t n = spec.columns.size();
  double slot = n ? plot_w / static_cast<double>(n) : plot_w;
  double bar_w = std::max(1.0, slot * 0.7);
  size_t label_every = n <= 8 ? 1 : (n + 7) / 8;
  for (size_t c = 0; c < n; ++c) {
    double x = kLeft + slot * static_cast<double>(c) + (slot - bar_w) / 2;
    double y = base_y;
    for (size_t s = 0; s < series.size(); ++s) {
      auto it = cells[c].find(series[s]);
      if (it == cells[c].end()) continue;
      double h = plot_h * static_cast<double>(it->second) / static_cast<double>(top);
      y -= h;
      svg += "<rect class=\"bar\" x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" width=\"" + Num(bar_w) + "\" height=\"" +
             Num(h) + "\" fill=\"" + kPalette[s % std::size(kPalette)] + "\" data-column=\"" +
             Escape(spec.columns[c]) + "\" data-series=\"" + Escape(series[s]) + "\" data-value=\"" +
             std::to_string(it->second) + "\"><title>" + Escape(spec.columns[c]) + " " + Escape(series[s]) + " " +
             Escape(format(it->second)) + "</title></rect>";
    }
    if (c % label_every == 0 || c + 1 == n) {
      const std::string& label = c < spec.column_labels.size() ? spec.column_labels[c] : spec.columns[c];
      svg += "<text class=\"column\" x=\"" + Num(kLeft + slot * (static_cast<double>(c) + 0.5)) + "\" y=\"" +
             Num(base_y + 16) + "\" text-anchor=\"middle\" font-size=\"11\">" + Escape(label) + "</text>";
    }
  }
  svg += "</svg>";
  std::string legend;
  for (size_t s = 0; s < series.size(); ++s)
    legend += "<li><svg class=\"swatch\" width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" "
              "height=\"12\" fill=\"" +
              std::string(kPalette[s % std::size(kPalette)]) + "\"/></svg> " + Escape(series[s]) + " " +
              Escape(format(totals[series[s]])) + "</li>";
  return "<figure class=\"chart\" id=\"" + id + "\"><figcaption>" + Escape(spec.title) + "</figcaption>" + svg +
         (legend.empty() ? "<p class=\"muted\">Nothing in this period.</p>" : "<ul class=\"legend\">" + legend + "</ul>") +
         "</figure>";
}

}  // namespace ap::ui
