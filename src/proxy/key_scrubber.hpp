#pragma once
// Finds the broker's provider keys in text a provider sent, so that no key reaches an app through
// an answer: every run of kMinRun or more consecutive characters of a key's secret part (all of it
// but the public prefix its provider prints in the clear, as "sk-proj-") becomes kRedacted; runs
// that overlap or touch become one marker. A provider that echoes "Incorrect API key provided:
// sk-proj-abcd...wxyz" gives away at most 7 characters in a row of any key's secret; an answer
// that names a prefix ("export ANTHROPIC_API_KEY=sk-ant-api03-...") quotes no key, so is neither
// changed nor counted against its grant (KeyLeakGuard). The scan is one pass over the text, whatever the number of
// keys: every 4-byte piece of every key is marked in a bitmap, and only every fifth position of the text is looked up
// there (a load, a multiply and a bit test). A run of kMinRun bytes of a key starts five consecutive positions whose
// 4-byte pieces are all marked, one of them a multiple of five; only before a marked one are the kMinRun-byte windows
// compared, each a 64-bit word held sorted behind a second bitmap. Thread-safety: a KeySet is immutable; KeyScrubber
// may be updated while other threads scrub.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ap::proxy {

// The length of the prefix `key`'s provider prints in the clear ("sk-proj-", "sk-ant-api03-",
// "AIza"; 0 for a key of no known form).
size_t PublicPrefixLength(std::string_view key);

class KeySet {
 public:
  static constexpr size_t kMinRun = 8;
  static constexpr std::string_view kRedacted = "[redacted]";

  KeySet() = default;
  // Keys whose secret part is shorter than kMinRun are left out (see Dropped): matched whole they
  // would cut ordinary words out of answers, and no provider issues them.
  explicit KeySet(const std::vector<std::string>& keys);

  bool Empty() const { return windows_.empty(); }
  size_t Dropped() const { return dropped_; }
  // Whether `text` holds key material (that Scrub would replace).
  bool Finds(std::string_view text) const;
  // Replaces the key material in `text`; true when it changed anything.
  bool Scrub(std::string& text) const;
  // Appends `text` to `out` with its key material replaced; true when it replaced anything.
  bool AppendScrubbed(std::string_view text, std::string& out) const;

 private:
  static constexpr unsigned kFilterBits = 16;
  using Filter = std::array<uint64_t, (size_t{1} << kFilterBits) / 64>;
  static constexpr size_t kPiece = 4;
  // Every kMinRun-byte window holds exactly one piece starting at a multiple of kStride.
  static constexpr size_t kStride = kMinRun - kPiece + 1;
  template <class OnRun>
  bool FindRuns(std::string_view text, OnRun on_run) const;
  bool IsWindow(const char* at) const;

  Filter pieces_{};                // every kPiece-byte piece of the keys
  Filter filter_{};                // every kMinRun-byte window of the keys
  std::vector<uint64_t> windows_;  // sorted
  size_t dropped_ = 0;
};

// Every key the broker holds, each with its own set. An answer is scrubbed of the key its call
// spent, and only of that one: scrubbing every held key would let an app learn, from what comes
// back redacted, whether a run it guessed is part of another owner's key.
class KeyScrubber {
 public:
  KeyScrubber();
  KeyScrubber(const KeyScrubber&) = delete;
  KeyScrubber& operator=(const KeyScrubber&) = delete;

  // Holds exactly `keys` from now on (the environment's and the vault's); answers already being
  // relayed finish with the set they started with. Returns how many keys were too short to hold.
  size_t Update(const std::vector<std::string>& keys);
  // The set for one answer of a call that spent `key`: a relay takes it once and scrubs every
  // piece with it. Built on the spot for a key not (yet) held; empty for no key.
  std::shared_ptr<const KeySet> For(std::string_view key) const;

 private:
  using Sets = std::map<std::string, std::shared_ptr<const KeySet>, std::less<>>;
  // Each thread keeps the sets it last took, and takes them again only once an Update changed them
  // (the generation says so): loading current_ itself takes a lock inside std::atomic, a write to
  // a line that every I/O thread shares, on every call. Generations are unique in the process, so a
  // thread's sets are never taken for another scrubber's. A thread keeps its sets (and so what
  // they hold of keys no longer held) until its first call after an Update. Valid on the calling
  // thread until its next call.
  const Sets& Current() const;

  std::mutex updating_;  // one Update at a time, so that generations are stored in their sets' order
  std::atomic<std::shared_ptr<const Sets>> current_;
  std::atomic<uint64_t> generation_;  // current_'s, stored after it
};

}  // namespace ap::proxy
