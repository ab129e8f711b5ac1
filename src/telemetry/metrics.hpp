#pragma once
// Prometheus metrics the hot path updates without locks: counters and fixed-bucket histograms held
// in atomics, in labelled families whose series live in a fixed-size open-addressed table (a new
// series claims its slot with one compare-and-swap), and a registry that renders them in the text
// exposition format 0.0.4. Values are whole numbers of a unit (microseconds, micro-dollars, tokens)
// and rendered with the family's scale, so sums stay exact.
// Thread-safety: everything here may be used from any thread; families must outlive the registry.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ap::telemetry {

// Label values that stand for everything past a cardinality cap.
inline constexpr std::string_view kOther = "other";

// A set of strings that grows up to `max` members and then stays as it is.
template <class Value>
class SeriesTable {
 public:
  explicit SeriesTable(size_t max);
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  // The value kept for `key`, made on first use; null when `key` is new and the table is full.
  Value* Find(std::string_view key);
  // The value kept for `key`; null when it was never made. Makes nothing.
  const Value* Get(std::string_view key) const;
  // Calls fn(key, value) for every series made so far, in no particular order.
  template <class Fn>
  void ForEach(Fn fn) const {
    for (size_t i = 0; i <= mask_; ++i)
      if (slots_[i].state.load(std::memory_order_acquire) == kReady) fn(slots_[i].key, slots_[i].value);
  }

 private:
  static constexpr int kEmpty = 0, kClaimed = 1, kReady = 2;
  struct Slot {
    std::atomic<int> state{kEmpty};
    uint64_t hash = 0;
    std::string key;
    Value value;
  };
  std::unique_ptr<Slot[]> slots_;
  size_t mask_ = 0;
  size_t max_ = 0;
  std::atomic<size_t> used_{0};
};

// Folds label values past the first `max` distinct ones into "other" (model and app names come
// from apps, so their number must not grow without bound).
class LabelCap {
 public:
  explicit LabelCap(size_t max);
  // `value` if it is (or now becomes) one of the kept values, else "other". Long values are cut.
  std::string_view Fold(std::string_view value);
  // `value` if it is already one of the kept values, else "other": for names nobody vouched for.
  std::string_view Known(std::string_view value) const;

 private:
  struct Nothing {};
  SeriesTable<Nothing> seen_;
};

class Collector {
 public:
  virtual ~Collector() = default;
  // Appends the family's HELP, TYPE and samples.
  virtual void Render(std::string& out) const = 0;
};

struct FamilyInfo {
  std::string name;
  std::string help;
  std::vector<std::string> labels;
  size_t max_series = 1000;  // past it, new label sets count under the all-"other" series
  double scale = 1;          // what one unit of an added value is worth in the rendered number
};

class CounterFamily final : public Collector {
 public:
  explicit CounterFamily(FamilyInfo info);
  // `values` in the order of the family's labels.
  void Add(std::initializer_list<std::string_view> values, uint64_t units = 1) {
    Series(values).fetch_add(units, std::memory_order_relaxed);
  }
  // The counter of one series, made on first use (the all-"other" one past max_series); it stays
  // where it is for the family's life, so a caller may keep it and add to it directly.
  std::atomic<uint64_t>& Series(std::initializer_list<std::string_view> values);
  // The series every label set past max_series counts under.
  const std::atomic<uint64_t>& Other() const { return *other_; }
  // The current count of one series (tests and gauges), 0 if it was never touched.
  uint64_t Value(std::initializer_list<std::string_view> values) const;
  void Render(std::string& out) const override;

 private:
  FamilyInfo info_;
  mutable SeriesTable<std::atomic<uint64_t>> series_;
  std::atomic<uint64_t>* other_;
};

inline constexpr size_t kMaxBuckets = 16;

class HistogramFamily final : public Collector {
 public:
  // `bounds`: the buckets' upper bounds in units, ascending, at most kMaxBuckets (+Inf is added).
  struct Buckets {
    std::array<std::atomic<uint64_t>, kMaxBuckets + 1> counts{};  // the last one is +Inf
    std::atomic<uint64_t> sum{0};
  };

  HistogramFamily(FamilyInfo info, std::vector<uint64_t> bounds);
  void Observe(std::initializer_list<std::string_view> values, uint64_t units) { Observe(Series(values), units); }
  // As CounterFamily::Series: one series' buckets, which stay where they are.
  Buckets& Series(std::initializer_list<std::string_view> values);
  const Buckets& Other() const { return *other_; }
  void Observe(Buckets& series, uint64_t units);
  void Render(std::string& out) const override;

 private:
  FamilyInfo info_;
  std::vector<uint64_t> bounds_;
  SeriesTable<Buckets> series_;
  Buckets* other_;
};

// A number read when the metrics are scraped (open connections, queue depths).
class GaugeFunction final : public Collector {
 public:
  GaugeFunction(std::string name, std::string help, std::function<double()> read)
      : name_(std::move(name)), help_(std::move(help)), read_(std::move(read)) {}
  void Render(std::string& out) const override;

 private:
  std::string name_, help_;
  std::function<double()> read_;
};

// The families to render, in the order they were added. Add before serving, render any time.
class Registry {
 public:
  void Add(const Collector* collector) { collectors_.push_back(collector); }
  std::string Render() const;

 private:
  std::vector<const Collector*> collectors_;
};

// Seconds as the histograms' unit, microseconds.
std::vector<uint64_t> MicrosBounds(std::initializer_list<double> seconds);
// A label value as the text format needs it: backslash, quote and newline escaped.
void AppendEscaped(std::string& out, std::string_view value);

}  // namespace ap::telemetry
