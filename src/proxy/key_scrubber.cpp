#include "proxy/key_scrubber.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace ap::proxy {

namespace {

uint64_t WindowAt(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

uint32_t PieceAt(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

template <unsigned kBits>
size_t SlotOf(uint64_t word) {
  return static_cast<size_t>((word * 0x9E3779B97F4A7C15ull) >> (64 - kBits));
}

template <class Filter>
void Mark(Filter& filter, size_t slot) {
  filter[slot >> 6] |= uint64_t{1} << (slot & 63);
}

template <class Filter>
bool Marked(const Filter& filter, size_t slot) {
  return (filter[slot >> 6] >> (slot & 63)) & 1;
}

}  // namespace

size_t PublicPrefixLength(std::string_view key) {
  if (key.starts_with("AIza")) return 4;
  if (key.starts_with("sk-ant-")) {  // sk-ant-api03-, sk-ant-admin01-: a kind, then its version
    size_t dash = key.find('-', 7);
    std::string_view kind = dash == std::string_view::npos ? std::string_view() : key.substr(7, dash - 7);
    bool named =
        kind.size() >= 3 && kind.size() <= 12 && std::islower(static_cast<unsigned char>(kind[0])) &&
        std::isdigit(static_cast<unsigned char>(kind[kind.size() - 1])) &&
        std::isdigit(static_cast<unsigned char>(kind[kind.size() - 2])) &&
        std::all_of(kind.begin(), kind.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
    return named ? dash + 1 : 7;  // a secret that happens to hold a dash early on is not a kind
  }
  if (!key.starts_with("sk-")) return 0;
  for (std::string_view kind : {"proj-", "svcacct-", "admin-", "None-"})
    if (key.substr(3).starts_with(kind)) return 3 + kind.size();
  return 3;
}

KeySet::KeySet(const std::vector<std::string>& whole_keys) {
  for (const std::string& whole : whole_keys) {
    std::string_view key = std::string_view(whole).substr(PublicPrefixLength(whole));
    if (key.size() < kMinRun) {
      dropped_ += whole.empty() ? 0 : 1;
      continue;
    }
    for (size_t i = 0; i + kMinRun <= key.size(); ++i) windows_.push_back(WindowAt(key.data() + i));
    for (size_t i = 0; i + kPiece <= key.size(); ++i) Mark(pieces_, SlotOf<kFilterBits>(PieceAt(key.data() + i)));
  }
  std::sort(windows_.begin(), windows_.end());
  windows_.erase(std::unique(windows_.begin(), windows_.end()), windows_.end());
  for (uint64_t w : windows_) Mark(filter_, SlotOf<kFilterBits>(w));
}

bool KeySet::IsWindow(const char* at) const {
  uint64_t w = WindowAt(at);
  return Marked(filter_, SlotOf<kFilterBits>(w)) && std::binary_search(windows_.begin(), windows_.end(), w);
}

// Calls on_run(begin, end) for each maximal stretch of `text` covered by key windows, in order.
template <class OnRun>
bool KeySet::FindRuns(std::string_view text, OnRun on_run) const {
  static_assert(kMinRun == sizeof(uint64_t) && kPiece == sizeof(uint32_t) && kMinRun >= kPiece);
  if (windows_.empty() || text.size() < kMinRun) return false;
  const char* p = text.data();
  const size_t last = text.size() - kMinRun;  // where the last window starts
  bool found = false;
  size_t run_begin = 0, run_end = 0;
  for (size_t piece = 0; piece + kPiece <= text.size(); piece += kStride) {
    if (!Marked(pieces_, SlotOf<kFilterBits>(PieceAt(p + piece)))) continue;
    // The windows that start up to kStride - 1 before this piece: a window starting at i holds the
    // pieces starting at i to i + kStride - 1, exactly one of them a multiple of kStride, so every
    // window is compared at most once, and in order.
    size_t from = piece >= kStride - 1 ? piece - (kStride - 1) : 0, to = std::min(piece, last);
    for (size_t i = from; i <= to; ++i) {
      if (!IsWindow(p + i)) continue;
      if (found && i <= run_end) {  // overlaps or touches the run so far
        run_end = i + kMinRun;
        continue;
      }
      if (found) on_run(run_begin, run_end);
      found = true;
      run_begin = i;
      run_end = i + kMinRun;
    }
  }
  if (found) on_run(run_begin, run_end);
  return found;
}

bool KeySet::Finds(std::string_view text) const {
  return FindRuns(text, [](size_t, size_t) {});
}

bool KeySet::AppendScrubbed(std::string_view text, std::string& out) const {
  size_t copied = 0;
  bool found = FindRuns(text, [&](size_t begin, size_t end) {
    out.append(text.substr(copied, begin - copied));
    out.append(kRedacted);
    copied = end;
  });
  out.append(text.substr(copied));
  return found;
}

bool KeySet::Scrub(std::string& text) const {
  std::string out;
  size_t copied = 0;
  bool found = FindRuns(text, [&](size_t begin, size_t end) {
    if (copied == 0 && out.empty()) out.reserve(text.size());
    out.append(text, copied, begin - copied);
    out.append(kRedacted);
    copied = end;
  });
  if (!found) return false;
  out.append(text, copied);
  text = std::move(out);
  return true;
}

namespace {
std::atomic<uint64_t> next_generation{1};
}  // namespace

KeyScrubber::KeyScrubber()
    : current_(std::make_shared<const Sets>()), generation_(next_generation.fetch_add(1, std::memory_order_relaxed)) {}

size_t KeyScrubber::Update(const std::vector<std::string>& keys) {
  std::lock_guard lock(updating_);
  auto before = current_.load(std::memory_order_acquire);
  auto next = std::make_shared<Sets>();
  size_t dropped = 0;
  for (const std::string& key : keys) {
    if (key.size() < KeySet::kMinRun) {
      dropped += key.empty() ? 0 : 1;
      continue;
    }
    auto it = before->find(key);
    (*next)[key] = it != before->end() ? it->second : std::make_shared<const KeySet>(std::vector<std::string>{key});
  }
  current_.store(std::move(next), std::memory_order_release);
  generation_.store(next_generation.fetch_add(1, std::memory_order_relaxed), std::memory_order_release);
  return dropped;
}

const KeyScrubber::Sets& KeyScrubber::Current() const {
  struct Taken {
    uint64_t generation = 0;
    std::shared_ptr<const Sets> sets;
  };
  thread_local Taken taken;
  // The sets are loaded after the generation: they are the generation's, or newer (then the next
  // call takes them again).
  uint64_t generation = generation_.load(std::memory_order_acquire);
  if (taken.generation != generation) {
    taken.sets = current_.load(std::memory_order_acquire);
    taken.generation = generation;
  }
  return *taken.sets;
}

std::shared_ptr<const KeySet> KeyScrubber::For(std::string_view key) const {
  static const auto kNone = std::make_shared<const KeySet>();
  if (key.empty()) return kNone;
  const Sets& sets = Current();
  if (auto it = sets.find(key); it != sets.end()) return it->second;
  return std::make_shared<const KeySet>(std::vector<std::string>{std::string(key)});
}

}  // namespace ap::proxy
