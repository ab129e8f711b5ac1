#include "telemetry/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <functional>
#include <thread>

namespace ap::telemetry {
namespace {

constexpr char kSeparator = '\x1f';
constexpr size_t kMaxLabelBytes = 96;

// The standard library's string hash, which reads eight bytes at a time (FNV-1a, a byte at a time,
// was a sixth of a call's metrics work); never 0, which marks nothing. Label values come from apps,
// but the table is bounded and its probes with it.
uint64_t Hash(std::string_view key) { return std::hash<std::string_view>{}(key) | 1; }

// A label value cut to kMaxLabelBytes, never inside a character: Prometheus refuses a scrape whose
// label values are not UTF-8.
std::string_view CutLabel(std::string_view value) {
  if (value.size() <= kMaxLabelBytes) return value;
  size_t cut = kMaxLabelBytes;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return value.substr(0, cut);
}

// A series' key: the label values, each cut to kMaxLabelBytes, between separators. Built in the
// calling thread's buffer, which is reused, so that updating a series allocates nothing once the
// thread has built a key as long; the view is good until the thread's next KeyOf.
std::string_view KeyOf(std::initializer_list<std::string_view> values) {
  thread_local std::string key;
  key.clear();
  bool first = true;
  for (std::string_view v : values) {
    if (!first) key += kSeparator;
    first = false;
    key.append(CutLabel(v));
  }
  return key;
}

std::string OtherKey(size_t labels) {
  std::string key;
  for (size_t i = 0; i < labels; ++i) {
    if (i) key += kSeparator;
    key += kOther;
  }
  return key;
}

void AppendNumber(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  int n = v == std::floor(v) && std::fabs(v) < 1e15 ? std::snprintf(buf, sizeof buf, "%.0f", v)
                                                    : std::snprintf(buf, sizeof buf, "%.9g", v);
  out.append(buf, static_cast<size_t>(n));
}

// `{a="x",b="y"` (no closing brace), from the family's labels and a series key.
void AppendLabels(std::string& out, const std::vector<std::string>& labels, std::string_view key) {
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    size_t end = key.find(kSeparator);
    if (i) out += ',';
    out += labels[i];
    out += "=\"";
    AppendEscaped(out, key.substr(0, end));
    out += '"';
    key = end == std::string_view::npos ? std::string_view() : key.substr(end + 1);
  }
}

void AppendHead(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

template <class Value>
SeriesTable<Value>::SeriesTable(size_t max) : max_(max) {
  size_t capacity = 8;
  while (capacity < 2 * max + 2) capacity *= 2;
  slots_ = std::make_unique<Slot[]>(capacity);
  mask_ = capacity - 1;
}

template <class Value>
Value* SeriesTable<Value>::Find(std::string_view key) {
  uint64_t h = Hash(key);
  size_t i = h & mask_;
  for (size_t probes = 0; probes <= mask_;) {
    Slot& slot = slots_[i];
    int state = slot.state.load(std::memory_order_acquire);
    if (state == kReady) {
      if (slot.hash == h && slot.key == key) return &slot.value;
      i = (i + 1) & mask_;
      ++probes;
      continue;
    }
    if (state == kClaimed) {  // another thread is writing this slot's key: look again in a moment
      std::this_thread::yield();
      continue;
    }
    if (used_.fetch_add(1, std::memory_order_relaxed) >= max_) {
      used_.fetch_sub(1, std::memory_order_relaxed);
      return nullptr;
    }
    int expected = kEmpty;
    if (!slot.state.compare_exchange_strong(expected, kClaimed, std::memory_order_acquire)) {
      used_.fetch_sub(1, std::memory_order_relaxed);
      continue;  // lost the race for this slot: see what was put there
    }
    slot.hash = h;
    slot.key.assign(key);
    slot.state.store(kReady, std::memory_order_release);
    return &slot.value;
  }
  return nullptr;
}

template <class Value>
const Value* SeriesTable<Value>::Get(std::string_view key) const {
  uint64_t h = Hash(key);
  for (size_t i = h & mask_, probes = 0; probes <= mask_; i = (i + 1) & mask_, ++probes) {
    const Slot& slot = slots_[i];
    int state = slot.state.load(std::memory_order_acquire);
    if (state == kEmpty) return nullptr;
    if (state == kReady && slot.hash == h && slot.key == key) return &slot.value;
  }
  return nullptr;
}

LabelCap::LabelCap(size_t max) : seen_(max) {}

std::string_view LabelCap::Fold(std::string_view value) {
  value = CutLabel(value);
  return seen_.Find(value) ? value : kOther;
}

std::string_view LabelCap::Known(std::string_view value) const {
  value = CutLabel(value);
  return seen_.Get(value) ? value : kOther;
}

// The all-"other" series is made first, so that it always has its place.
CounterFamily::CounterFamily(FamilyInfo info)
    : info_(std::move(info)), series_(info_.max_series + 1), other_(series_.Find(OtherKey(info_.labels.size()))) {}

std::atomic<uint64_t>& CounterFamily::Series(std::initializer_list<std::string_view> values) {
  auto* counter = series_.Find(KeyOf(values));
  return counter ? *counter : *other_;
}

uint64_t CounterFamily::Value(std::initializer_list<std::string_view> values) const {
  uint64_t found = 0;
  std::string key(KeyOf(values));
  series_.ForEach([&](const std::string& k, const std::atomic<uint64_t>& v) {
    if (k == key) found = v.load(std::memory_order_relaxed);
  });
  return found;
}

void CounterFamily::Render(std::string& out) const {
  AppendHead(out, info_.name, info_.help, "counter");
  series_.ForEach([&](const std::string& key, const std::atomic<uint64_t>& v) {
    if (!info_.labels.empty() && v.load(std::memory_order_relaxed) == 0) return;  // the unused "other"
    out += info_.name;
    if (!info_.labels.empty()) {
      AppendLabels(out, info_.labels, key);
      out += '}';
    }
    out += ' ';
    AppendNumber(out, static_cast<double>(v.load(std::memory_order_relaxed)) * info_.scale);
    out += '\n';
  });
}

HistogramFamily::HistogramFamily(FamilyInfo info, std::vector<uint64_t> bounds)
    : info_(std::move(info)),
      bounds_(std::move(bounds)),
      series_(info_.max_series + 1),
      other_(series_.Find(OtherKey(info_.labels.size()))) {
  if (bounds_.size() > kMaxBuckets) bounds_.resize(kMaxBuckets);
}

HistogramFamily::Buckets& HistogramFamily::Series(std::initializer_list<std::string_view> values) {
  auto* buckets = series_.Find(KeyOf(values));
  return buckets ? *buckets : *other_;
}

void HistogramFamily::Observe(Buckets& series, uint64_t units) {
  size_t i = 0;
  while (i < bounds_.size() && units > bounds_[i]) ++i;
  series.counts[i].fetch_add(1, std::memory_order_relaxed);
  series.sum.fetch_add(units, std::memory_order_relaxed);
}

void HistogramFamily::Render(std::string& out) const {
  AppendHead(out, info_.name, info_.help, "histogram");
  series_.ForEach([&](const std::string& key, const Buckets& b) {
    uint64_t observed = 0;
    for (const auto& count : b.counts) observed += count.load(std::memory_order_relaxed);
    if (observed == 0) return;  // the unused "other"
    uint64_t cumulative = 0;
    auto line = [&](std::string_view suffix, const std::string* le, double value) {
      out += info_.name;
      out += suffix;
      bool any = !info_.labels.empty() || le;
      if (!info_.labels.empty()) AppendLabels(out, info_.labels, key);
      if (le) {
        out += info_.labels.empty() ? "{" : ",";
        out += "le=\"" + *le + "\"";
      }
      if (any) out += '}';
      out += ' ';
      AppendNumber(out, value);
      out += '\n';
    };
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += b.counts[i].load(std::memory_order_relaxed);
      std::string le;
      if (i == bounds_.size()) {
        le = "+Inf";
      } else {
        AppendNumber(le, static_cast<double>(bounds_[i]) * info_.scale);
      }
      line("_bucket", &le, static_cast<double>(cumulative));
    }
    line("_sum", nullptr, static_cast<double>(b.sum.load(std::memory_order_relaxed)) * info_.scale);
    line("_count", nullptr, static_cast<double>(cumulative));
  });
}

void GaugeFunction::Render(std::string& out) const {
  AppendHead(out, name_, help_, "gauge");
  out += name_ + " ";
  AppendNumber(out, read_());
  out += '\n';
}

std::string Registry::Render() const {
  std::string out;
  for (const Collector* c : collectors_) c->Render(out);
  return out;
}

std::vector<uint64_t> MicrosBounds(std::initializer_list<double> seconds) {
  std::vector<uint64_t> out;
  for (double s : seconds) out.push_back(static_cast<uint64_t>(std::llround(s * 1e6)));
  return out;
}

void AppendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

}  // namespace ap::telemetry
