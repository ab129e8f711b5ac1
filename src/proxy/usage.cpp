#include "proxy/usage.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <cassert>
#include <cmath>
#include <optional>

#include "core/money.hpp"
#include "core/text_search.hpp"
#include "proxy/json_walk.hpp"
#include "proxy/request_limits.hpp"

namespace ap::proxy {
namespace json = boost::json;

namespace {

// A count as the last member of its name held it. Absent or null: not `seen`. A value that is not
// a whole number is seen as -1, so that it marks the usage implausible.
struct Figure {
  bool seen = false;
  double n = 0;
};

enum Count : uint8_t {
  kPromptTokens,
  kInputTokens,
  kPromptTokenCount,
  kCacheReads,
  kCacheWrites,
  kCompletionTokens,
  kOutputTokens,
  kCandidatesTokenCount,
  kThoughtsTokenCount,
  kCachedContentTokenCount,
  kToolUsePromptTokenCount,
  kCounts
};
// Their names are the first of kUsageFigureNames (Usage::figures keeps them in this order).
static_assert(kCounts + 2 == kUsageFigureNames.size());
static_assert(kUsageFigureNames[kToolUsePromptTokenCount] == "toolUsePromptTokenCount");

// Counts one object further in: {object name, count name}.
enum Detail : uint8_t { kPromptCached, kInputCached, kWebSearches, kLongCacheWrites, kDetails };
constexpr std::array<std::pair<std::string_view, std::string_view>, kDetails> kDetailNames = {{
    {"prompt_tokens_details", "cached_tokens"},
    {"input_tokens_details", "cached_tokens"},
    {"server_tool_use", "web_search_requests"},
    {"cache_creation", "ephemeral_1h_input_tokens"},
}};

// What a usage's inference_geo said: nothing (absent or null), "global", or anything else.
enum class GeoSaid : uint8_t { kNothing, kGlobal, kOne };

// Gemini's lists of tokens by modality: the prompt's, and of it the cache's.
enum Modalities : uint8_t { kPromptModalities, kCacheModalities, kModalityLists };

// One `usage` (or `usageMetadata`) object, as its last occurrence held it.
struct UsageFigures {
  bool object = false;
  std::array<Figure, kCounts> counts;
  std::array<Figure, kDetails> details;
  bool duration = false;          // "type":"duration"
  std::optional<double> seconds;  // a number
  GeoSaid geo = GeoSaid::kNothing;
  // Gemini's promptTokensDetails and cacheTokensDetails (by Modalities): the audio tokens of their
  // AUDIO entries, as the last list held them.
  std::array<Figure, kModalityLists> audio;
};

// Whose usage: Anthropic's message_start, OpenAI's response.* events, the answer's own.
enum Holder : uint8_t { kMessageUsage, kResponseUsage, kAnswerUsage, kAnswerUsageMetadata, kHolders };
// Whose output items: OpenAI's response.* events, the Responses answer's own.
enum Outputs : uint8_t { kResponseOutput, kAnswerOutput, kOutputHolders };

struct ToolCalls {
  int64_t web_searches = 0;
  int64_t file_searches = 0;
};

// What the value after a member name (or an array's next element) feeds.
enum class Role : uint8_t {
  kDrop,
  kAnswer,         // the document's object
  kMessage,        // Anthropic's message_start holder
  kResponse,       // OpenAI's response.* holder
  kUsage,          // an object of figures (`holder`)
  kCount,          // a figure (`holder`, `index`: Count)
  kDetails,        // an object one further in (`holder`, `index`: Detail)
  kDetailCount,    // the figure inside it
  kType,           // a usage's "type"
  kSeconds,        // a usage's "seconds"
  kGeo,            // a usage's "inference_geo"
  kModalities,     // a usage's promptTokensDetails or cacheTokensDetails (`holder`, `index`: Modalities)
  kModality,       // one entry of them
  kModalityName,   // its "modality"
  kModalityCount,  // its "tokenCount"
  kOutput,         // output items (`holder`: Outputs)
  kOutputItem,     // one of them
  kItemType,       // its "type"
  kCandidates,     // Gemini's candidates
  kCandidate,      // one of them
  kIndex,          // its "index"
  kFinishReason,   // its "finishReason"
  kGrounding,      // its groundingMetadata
  kQueries,        // webSearchQueries
  kQuery,          // one of them
  kChoices,        // OpenAI's choices (only whether they are empty)
};

struct Target {
  Role role = Role::kDrop;
  uint8_t holder = 0;
  uint8_t index = 0;
};

// The members a usage object is read for, and what each feeds (its `holder` is the usage's own),
// looked up by length first: a usage has a dozen members, and comparing each with every name
// in turn took a tenth of the reader's time.
struct UsageMember {
  std::string_view name;
  Role role;
  uint8_t index;
};
constexpr size_t kUsageMembers = size_t{kCounts} + size_t{kDetails} + 5;
constexpr size_t kLongestUsageMember = 32;
constexpr auto kUsageMembersBySize = [] {
  std::array<UsageMember, kUsageMembers> all{};
  size_t n = 0;
  for (uint8_t k = 0; k < kCounts; ++k) all[n++] = {kUsageFigureNames[k], Role::kCount, k};
  for (uint8_t d = 0; d < kDetails; ++d) all[n++] = {kDetailNames[d].first, Role::kDetails, d};
  all[n++] = {"type", Role::kType, 0};
  all[n++] = {"seconds", Role::kSeconds, 0};
  all[n++] = {"inference_geo", Role::kGeo, 0};
  all[n++] = {"promptTokensDetails", Role::kModalities, kPromptModalities};
  all[n++] = {"cacheTokensDetails", Role::kModalities, kCacheModalities};
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.name.size() < b.name.size(); });
  return all;
}();
// Where the members of each length start in kUsageMembersBySize (those of length n end where
// those of n + 1 start).
constexpr auto kUsageMembersFrom = [] {
  std::array<uint8_t, kLongestUsageMember + 2> from{};
  for (size_t size = 0, i = 0; size < from.size(); ++size) {
    while (i < kUsageMembers && kUsageMembersBySize[i].name.size() < size) ++i;
    from[size] = static_cast<uint8_t>(i);
  }
  return from;
}();
static_assert(kUsageMembersBySize.back().name.size() <= kLongestUsageMember);

// What the member `key` of a usage object feeds, if anything.
Target UsageMemberTarget(std::string_view key, uint8_t holder) {
  if (key.size() > kLongestUsageMember) return {};
  for (size_t i = kUsageMembersFrom[key.size()]; i < kUsageMembersFrom[key.size() + 1]; ++i)
    if (kUsageMembersBySize[i].name == key) return {kUsageMembersBySize[i].role, holder, kUsageMembersBySize[i].index};
  return {};
}

// A short text kept to compare later (an output item's type); one longer than any compared with
// keeps only its length.
class ShortText {
 public:
  void Set(std::string_view s) {
    size_ = s.size();
    s.copy(buffer_.data(), std::min(s.size(), buffer_.size()));
  }
  bool operator==(std::string_view s) const {
    return size_ == s.size() && size_ <= buffer_.size() && std::string_view(buffer_.data(), size_) == s;
  }

 private:
  std::array<char, 32> buffer_;
  size_t size_ = 0;
};

// Reads the usage figures while proxy/json_walk validates the text: each member that feeds
// usage is kept as its last occurrence holds it (a member named again replaces what it held, as
// a full parse would), nothing else is kept, and nothing is allocated for a usual answer.
class UsageReader {
 public:
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    Begin(Take(), true);
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    Begin(Take(), false);
    return true;
  }
  bool on_object_end(size_t n, boost::system::error_code&) {
    End(n);
    return true;
  }
  bool on_array_end(size_t n, boost::system::error_code&) {
    End(n);
    return true;
  }
  bool on_key(json::string_view s, size_t, boost::system::error_code&) {
    if (skip_ > 0) return true;
    next_ = MemberTarget(std::string_view(s.data(), s.size()));
    Reset(next_);
    return true;
  }
  bool on_string(json::string_view s, size_t, boost::system::error_code&) {
    String(Take(), std::string_view(s.data(), s.size()));
    return true;
  }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code&) {
    Target t = Take();
    if (t.role == Role::kIndex) candidate_.index = i;
    Number(t, static_cast<double>(i), true);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, boost::system::error_code&) {
    Number(Take(), static_cast<double>(u), true);
    return true;
  }
  bool on_double(double d, json::string_view, boost::system::error_code&) {
    Number(Take(), d, std::floor(d) == d);
    return true;
  }
  bool on_bool(bool, boost::system::error_code&) {
    NotANumber(Take());
    return true;
  }
  bool on_null(boost::system::error_code&) {
    Take();  // a null figure counts as absent, which it was reset to
    return true;
  }
  // Inside a container nothing is read from (the walk then tells its strings empty).
  bool Ignoring() const { return skip_ > 0; }

  // Folds what was read into `usage`, in the order a reader of the whole answer would.
  void MergeInto(Usage& usage) const {
    MergeFigures(holders_[kMessageUsage], usage);
    MergeFigures(holders_[kResponseUsage], usage);
    MergeToolCalls(outputs_[kResponseOutput], usage);
    MergeFigures(holders_[kAnswerUsage], usage);
    MergeFigures(holders_[kAnswerUsageMetadata], usage);
    MergeToolCalls(outputs_[kAnswerOutput], usage);
    MergeGrounding(usage);
    if (holders_[kResponseUsage].object || holders_[kAnswerUsage].object) usage.closed = true;
    if (finished_ && holders_[kAnswerUsageMetadata].object) usage.closed = true;
  }
  // OpenAI's closing chunk of a stream: `choices` empty and `usage` an object.
  bool UsageOnly() const { return choices_empty_ && holders_[kAnswerUsage].object; }

 private:
  struct Frame {
    Role role;
    uint8_t holder;
    uint8_t index;
  };
  // A Gemini candidate being read.
  struct Candidate {
    int64_t position = 0;
    std::optional<int64_t> index;
    bool grounded = false;
    int64_t queries = 0;
    bool finished = false;  // a finishReason
  };

  // The target of the value that starts now; consumed.
  Target Take() {
    if (skip_ > 0) return {};
    if (depth_ == 0) return answer_read_ ? Target{} : Target{Role::kAnswer};
    const Frame& f = frames_[depth_ - 1];
    switch (f.role) {
      case Role::kOutput:
        return {Role::kOutputItem, f.holder};
      case Role::kCandidates:
        candidate_ = Candidate{};
        candidate_.position = position_++;
        return {Role::kCandidate};
      case Role::kQueries:
        return {Role::kQuery};
      case Role::kModalities:
        modality_ = {};
        return {Role::kModality, f.holder, f.index};
      case Role::kChoices:
        return {};
      default:
        return std::exchange(next_, Target{});
    }
  }

  // What the member named `key` feeds, by the object it is in.
  Target MemberTarget(std::string_view key) const {
    if (depth_ == 0) return {};
    const Frame& f = frames_[depth_ - 1];
    switch (f.role) {
      case Role::kAnswer:
        if (key == "usage") return {Role::kUsage, kAnswerUsage};
        if (key == "choices") return {Role::kChoices};
        if (key == "usageMetadata") return {Role::kUsage, kAnswerUsageMetadata};
        if (key == "candidates") return {Role::kCandidates};
        if (key == "message") return {Role::kMessage};
        if (key == "response") return {Role::kResponse};
        if (key == "output") return {Role::kOutput, kAnswerOutput};
        return {};
      case Role::kMessage:
        return key == "usage" ? Target{Role::kUsage, kMessageUsage} : Target{};
      case Role::kResponse:
        if (key == "usage") return {Role::kUsage, kResponseUsage};
        if (key == "output") return {Role::kOutput, kResponseOutput};
        return {};
      case Role::kUsage:
        return UsageMemberTarget(key, f.holder);
      case Role::kModality:
        if (key == "modality") return {Role::kModalityName, f.holder};
        if (key == "tokenCount") return {Role::kModalityCount, f.holder};
        return {};
      case Role::kDetails:
        return key == kDetailNames[f.index].second ? Target{Role::kDetailCount, f.holder, f.index} : Target{};
      case Role::kOutputItem:
        return key == "type" ? Target{Role::kItemType} : Target{};
      case Role::kCandidate:
        if (key == "index") return {Role::kIndex};
        if (key == "groundingMetadata") return {Role::kGrounding};
        if (key == "finishReason") return {Role::kFinishReason};
        return {};
      case Role::kGrounding:
        return key == "webSearchQueries" ? Target{Role::kQueries} : Target{};
      default:
        return {};
    }
  }

  // A member named again replaces what it held: everything its value fed starts over.
  void Reset(const Target& t) {
    switch (t.role) {
      case Role::kMessage:
        holders_[kMessageUsage] = {};
        break;
      case Role::kResponse:
        holders_[kResponseUsage] = {};
        outputs_[kResponseOutput] = {};
        break;
      case Role::kUsage:
        holders_[t.holder] = {};
        break;
      case Role::kCount:
        holders_[t.holder].counts[t.index] = {};
        break;
      case Role::kDetails:
      case Role::kDetailCount:
        holders_[t.holder].details[t.index] = {};
        break;
      case Role::kType:
        holders_[t.holder].duration = false;
        break;
      case Role::kSeconds:
        holders_[t.holder].seconds.reset();
        break;
      case Role::kGeo:
        holders_[t.holder].geo = GeoSaid::kNothing;
        break;
      case Role::kModalities:
        holders_[t.holder].audio[t.index] = {};
        break;
      case Role::kModalityName:
        modality_.name = {};
        break;
      case Role::kModalityCount:
        modality_.count = {};
        break;
      case Role::kOutput:
        outputs_[t.holder] = {};
        break;
      case Role::kItemType:
        item_type_ = {};
        break;
      case Role::kCandidates:
        grounded_.reset();
        position_ = 0;
        finished_ = false;
        break;
      case Role::kFinishReason:
        candidate_.finished = false;
        break;
      case Role::kIndex:
        candidate_.index.reset();
        break;
      case Role::kGrounding:
        candidate_.grounded = false;
        candidate_.queries = 0;
        break;
      case Role::kQueries:
        candidate_.queries = 0;
        break;
      case Role::kChoices:
        choices_empty_ = false;
        break;
      default:
        break;
    }
  }

  void Begin(const Target& t, bool object) {
    if (t.role == Role::kAnswer) answer_read_ = true;
    bool followed = object ? t.role == Role::kAnswer || t.role == Role::kMessage || t.role == Role::kResponse ||
                                 t.role == Role::kUsage || t.role == Role::kDetails || t.role == Role::kOutputItem ||
                                 t.role == Role::kCandidate || t.role == Role::kGrounding || t.role == Role::kModality
                           : t.role == Role::kOutput || t.role == Role::kCandidates || t.role == Role::kQueries ||
                                 t.role == Role::kChoices || t.role == Role::kModalities;
    if (!followed) {
      NotANumber(t);
      ++skip_;
      return;
    }
    if (t.role == Role::kUsage) holders_[t.holder].object = true;
    if (t.role == Role::kOutputItem) item_type_ = {};
    if (t.role == Role::kGrounding) candidate_.grounded = true;
    assert(depth_ < frames_.size());
    frames_[depth_++] = Frame{t.role, t.holder, t.index};
  }

  void End(size_t n) {
    if (skip_ > 0) {
      --skip_;
      return;
    }
    const Frame f = frames_[--depth_];
    if (f.role == Role::kOutputItem) {
      if (item_type_ == "web_search_call") ++outputs_[f.holder].web_searches;
      if (item_type_ == "file_search_call") ++outputs_[f.holder].file_searches;
    }
    if (f.role == Role::kCandidate && candidate_.finished) finished_ = true;
    if (f.role == Role::kCandidate && candidate_.grounded) {
      int64_t index = candidate_.index.value_or(candidate_.position);
      if (index >= 0 && index < kMaxAnswers) {  // candidates of one index count as the most of them
        auto at = static_cast<size_t>(index);
        queries_[at] = grounded_.test(at) ? std::max(queries_[at], candidate_.queries) : candidate_.queries;
        grounded_.set(at);
      }
    }
    if (f.role == Role::kChoices) choices_empty_ = n == 0;
    if (f.role == Role::kModality && modality_.name == "AUDIO" && modality_.count.seen) {
      Figure& audio = holders_[f.holder].audio[f.index];  // entries add up; one that is not a count spoils the sum
      audio = {true, audio.n < 0 || modality_.count.n < 0 ? -1 : audio.n + modality_.count.n};
    }
  }

  void Number(const Target& t, double n, bool whole) {
    if (t.role == Role::kCount) holders_[t.holder].counts[t.index] = {true, whole ? n : -1};
    if (t.role == Role::kDetailCount) holders_[t.holder].details[t.index] = {true, whole ? n : -1};
    if (t.role == Role::kSeconds) holders_[t.holder].seconds = n;
    if (t.role == Role::kGeo) holders_[t.holder].geo = GeoSaid::kOne;  // not "global"
    if (t.role == Role::kModalityCount) modality_.count = {true, whole ? n : -1};
  }
  // A string, a boolean or a container where a count was expected (or a geography's name).
  void NotANumber(const Target& t) {
    if (t.role == Role::kCount) holders_[t.holder].counts[t.index] = {true, -1};
    if (t.role == Role::kDetailCount) holders_[t.holder].details[t.index] = {true, -1};
    if (t.role == Role::kGeo) holders_[t.holder].geo = GeoSaid::kOne;
    if (t.role == Role::kModalityCount) modality_.count = {true, -1};
  }

  void String(const Target& t, std::string_view s) {
    NotANumber(t);
    if (t.role == Role::kGeo && s == "global") holders_[t.holder].geo = GeoSaid::kGlobal;
    if (t.role == Role::kModalityName) modality_.name.Set(s);
    if (t.role == Role::kType) holders_[t.holder].duration = s == "duration";
    if (t.role == Role::kItemType) item_type_.Set(s);
    if (t.role == Role::kQuery && !s.empty()) ++candidate_.queries;
    if (t.role == Role::kFinishReason && !s.empty()) candidate_.finished = true;
  }

  static int64_t Plausible(const Figure& f, Usage& usage) {
    if (!f.seen) return 0;
    if (!(f.n >= 0 && f.n <= static_cast<double>(kMaxTokens))) {
      usage.implausible = true;
      return 0;
    }
    return static_cast<int64_t>(f.n);
  }
  static void Keep(int64_t figure, int64_t& into) {
    if (figure > 0) into = figure;
  }

  static void MergeFigures(const UsageFigures& u, Usage& usage) {
    if (!u.object) return;
    auto detail = [&](Detail d) { return Plausible(u.details[d], usage); };
    for (size_t k = 0; k < kCounts; ++k) Keep(Plausible(u.counts[k], usage), usage.figures[k]);
    Keep(detail(kPromptCached), usage.figures[kCounts]);
    Keep(detail(kInputCached), usage.figures[kCounts + 1]);
    auto latest = [&](Count k) { return usage.figures[k]; };
    int64_t cache_reads = latest(kCacheReads);
    int64_t cache_writes = latest(kCacheWrites);
    // Gemini's tool results (URL context, code execution) go back to the model as input, billed as input.
    Keep(latest(kPromptTokens) + latest(kInputTokens) + latest(kPromptTokenCount) + latest(kToolUsePromptTokenCount) +
             cache_reads + cache_writes,
         usage.input_tokens);
    Keep(cache_writes, usage.cache_write_tokens);
    Keep(detail(kLongCacheWrites), usage.cache_write_1h_tokens);
    Keep(
        latest(kCompletionTokens) + latest(kOutputTokens) + latest(kCandidatesTokenCount) + latest(kThoughtsTokenCount),
        usage.output_tokens);
    if (latest(kCandidatesTokenCount) > 0) usage.output_counted = true;
    Keep(usage.figures[kCounts] + usage.figures[kCounts + 1] + cache_reads + latest(kCachedContentTokenCount),
         usage.cached_input_tokens);
    if (int64_t searches = detail(kWebSearches); searches > 0)
      usage.SetToolUses("web_search", searches);  // Anthropic's running total
    Keep(Plausible(u.audio[kPromptModalities], usage), usage.audio_input_tokens);
    Keep(Plausible(u.audio[kCacheModalities], usage), usage.cached_audio_input_tokens);
    if (u.geo == GeoSaid::kOne) usage.one_geo = true;
    if (u.geo == GeoSaid::kGlobal && !usage.one_geo.has_value()) usage.one_geo = false;
    if (u.duration && u.seconds) {
      if (std::isfinite(*u.seconds) && *u.seconds >= 0 && *u.seconds <= 1e7)
        usage.audio_seconds = *u.seconds;
      else
        usage.implausible = true;
    }
  }

  // OpenAI's Responses output items: each web_search_call or file_search_call is a billed use.
  static void MergeToolCalls(const ToolCalls& calls, Usage& usage) {
    if (calls.web_searches > 0) usage.SetToolUses("web_search", calls.web_searches);
    if (calls.file_searches > 0) usage.SetToolUses("file_search", calls.file_searches);
  }

  // Gemini's grounded candidates: each non-empty search query is charged, at least one per
  // grounded candidate. Streams repeat a candidate's metadata as it grows: the most any chunk
  // gave per candidate counts (a later one that leaves its queries out took none back).
  void MergeGrounding(Usage& usage) const {
    if (grounded_.none()) return;
    for (size_t index = 0; index < grounded_.size(); ++index) {
      if (!grounded_.test(index)) continue;
      if (usage.searches_by_candidate.size() <= index) usage.searches_by_candidate.resize(index + 1, 0);
      usage.searches_by_candidate[index] =
          std::max(usage.searches_by_candidate[index], std::max<int64_t>(1, queries_[index]));
    }
    int64_t total = 0;
    for (int64_t n : usage.searches_by_candidate) total += n;
    usage.SetToolUses("google_search", total);
  }

  // Read so far.
  std::array<UsageFigures, kHolders> holders_;
  std::array<ToolCalls, kOutputHolders> outputs_;
  // Gemini's grounded candidates by index, as the last of each index said: as many as a call can
  // have answers, however many candidates the text repeats.
  std::bitset<kMaxAnswers> grounded_;
  std::array<int64_t, kMaxAnswers> queries_;  // the search queries of each grounded one
  bool finished_ = false;                     // a Gemini candidate has a finishReason
  bool choices_empty_ = false;

  // Where the parser is. Only followed objects and arrays take a frame, five at most.
  std::array<Frame, 6> frames_;
  size_t depth_ = 0;
  size_t skip_ = 0;  // depth inside a container nothing is read from
  bool answer_read_ = false;
  Target next_;  // for the value after the last member name
  ShortText item_type_;
  Candidate candidate_;
  int64_t position_ = 0;  // of the next candidate
  struct {
    ShortText name;
    Figure count;
  } modality_;  // the promptTokensDetails or cacheTokensDetails entry being read
};

}  // namespace

int64_t Usage::ToolUses(std::string_view kind) const {
  for (const auto& [name, uses] : tool_uses)
    if (name == kind) return uses;
  return 0;
}

void Usage::SetToolUses(std::string_view kind, int64_t uses) {
  for (auto& [name, n] : tool_uses)
    if (name == kind) {
      n = uses;
      return;
    }
  tool_uses.emplace_back(std::string(kind), uses);
}

bool MayCarryUsage(std::string_view json_text) {
  // "usage", "usageMetadata", "groundingMetadata", "web_search_call", "file_search_call"; OpenAI's
  // `"usage":null` (in every chunk of a stream that asked for usage) holds none.
  static constexpr std::string_view kNoUsage = "\"usage\":null";
  for (size_t at = FindText(json_text, "sage"); at != std::string_view::npos; at = FindText(json_text, "sage", at + 1))
    if (at < 2 || json_text.substr(at - 2, kNoUsage.size()) != kNoUsage) return true;
  for (std::string_view mark : {"groundingMetadata", "search_call"})
    if (FindText(json_text, mark) != std::string_view::npos) return true;
  return false;
}

void MergeUsageFromJson(std::string_view json_text, Usage& usage) { MergeUsageFromChunk(json_text, usage); }

bool MergeUsageFromChunk(std::string_view json_text, Usage& usage) {
  if (!MayCarryUsage(json_text)) return false;
  // Validated as boost::json::parse validates it: what it refuses changes nothing here.
  UsageReader reader;
  if (!WalkJson(json_text, reader, json_walk::kAnswerMaxDepth)) {
    // Figures the app's parser reads and this one cannot (nested past the bound, malformed): the
    // call counts as its worst case, never as the figures of an earlier event.
    usage.implausible = true;
    return false;
  }
  reader.MergeInto(usage);
  return reader.UsageOnly();
}

namespace {

// OutputBytesOfEvent's handler: sums the strings (and the numbers, literals and keys of a value
// counted whole) under the members output is written in.
class OutputBytes {
 public:
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return Open(); }
  bool on_array_begin(boost::system::error_code&) { return Open(); }
  bool on_object_end(size_t, boost::system::error_code&) { return Close(); }
  bool on_array_end(size_t, boost::system::error_code&) { return Close(); }
  bool on_key(json::string_view s, size_t, boost::system::error_code&) {
    std::string_view key(s.data(), s.size());
    if (whole_from_ > 0) {
      bytes_ += static_cast<int64_t>(key.size());
    } else {
      text_ = IsTextMember(key);
      whole_ = key == "args";
    }
    return true;
  }
  bool on_string(json::string_view s, size_t, boost::system::error_code&) {
    if (whole_from_ > 0 || text_ || whole_) bytes_ += static_cast<int64_t>(s.size());
    return Taken();
  }
  bool on_int64(int64_t, json::string_view t, boost::system::error_code&) { return Scalar(t.size()); }
  bool on_uint64(uint64_t, json::string_view t, boost::system::error_code&) { return Scalar(t.size()); }
  bool on_double(double, json::string_view t, boost::system::error_code&) { return Scalar(t.size()); }
  bool on_bool(bool b, boost::system::error_code&) { return Scalar(b ? 4 : 5); }
  bool on_null(boost::system::error_code&) { return Scalar(4); }

  int64_t Bytes() const { return bytes_; }

 private:
  static bool IsTextMember(std::string_view key) {
    // A string delta is the Responses API's; an object one (Chat Completions, Anthropic) is looked into.
    // A tool's name is written by the model too.
    // Gemini's code execution tool: the code the model writes.
    static constexpr std::string_view kText[] = {"content",  "text",  "arguments", "partial_json",
                                                 "thinking", "name",  "reasoning", "reasoning_content",
                                                 "refusal",  "delta", "code"};
    // Most keys of an event (id, object, model, index, ...) are no such name: their length and
    // first letter say so without comparing them to each.
    static constexpr auto kStarts = [] {
      std::array<uint32_t, 32> starts{};  // by length: a bit for each first letter
      for (std::string_view name : kText) starts[name.size()] |= uint32_t{1} << (name[0] - 'a');
      return starts;
    }();
    if (key.empty() || key.size() >= kStarts.size() || key[0] < 'a' || key[0] > 'z' ||
        !(kStarts[key.size()] >> (key[0] - 'a') & 1))
      return false;
    return std::find(std::begin(kText), std::end(kText), key) != std::end(kText);
  }
  bool Open() {
    ++depth_;
    if (whole_ && whole_from_ == 0) whole_from_ = depth_;  // Gemini's args: counted whole
    return Taken();
  }
  bool Close() {
    if (whole_from_ == depth_) whole_from_ = 0;
    --depth_;
    return true;
  }
  bool Scalar(size_t size) {
    if (whole_from_ > 0 || whole_) bytes_ += static_cast<int64_t>(size);
    return Taken();
  }
  bool Taken() {  // a member's value was met: the next one's key says what it is
    text_ = whole_ = false;
    return true;
  }

  int depth_ = 0;
  int whole_from_ = 0;  // the depth of the value counted whole, 0 when none
  bool text_ = false;   // the value met next is under a text member
  bool whole_ = false;  // ... under Gemini's args
  int64_t bytes_ = 0;
};

// Tells each handler what the walk meets. Strings are told whole to both (OutputBytes counts
// them), so UsageReader does without the walk's Ignoring: it drops what it is told there itself.
class UsageAndOutput {
 public:
  UsageAndOutput(UsageReader& usage, OutputBytes& output) : usage_(usage), output_(output) {}

  bool on_document_begin(boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_document_begin(ec); });
  }
  bool on_document_end(boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_document_end(ec); });
  }
  bool on_object_begin(boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_object_begin(ec); });
  }
  bool on_array_begin(boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_array_begin(ec); });
  }
  bool on_object_end(size_t n, boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_object_end(n, ec); });
  }
  bool on_array_end(size_t n, boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_array_end(n, ec); });
  }
  bool on_key(json::string_view s, size_t n, boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_key(s, n, ec); });
  }
  bool on_string(json::string_view s, size_t n, boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_string(s, n, ec); });
  }
  bool on_int64(int64_t i, json::string_view t, boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_int64(i, t, ec); });
  }
  bool on_uint64(uint64_t u, json::string_view t, boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_uint64(u, t, ec); });
  }
  bool on_double(double d, json::string_view t, boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_double(d, t, ec); });
  }
  bool on_bool(bool b, boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_bool(b, ec); });
  }
  bool on_null(boost::system::error_code& ec) {
    return Both([&](auto& h) { return h.on_null(ec); });
  }

 private:
  template <class Call>
  bool Both(Call call) {
    bool usage = call(usage_);
    return call(output_) && usage;
  }

  UsageReader& usage_;
  OutputBytes& output_;
};

}  // namespace

int64_t OutputBytesOfEvent(std::string_view json_text) {
  OutputBytes counted;
  // An event that cannot be read is counted whole: all of it may be output.
  if (!WalkJson(json_text, counted, json_walk::kAnswerMaxDepth)) return static_cast<int64_t>(json_text.size());
  return counted.Bytes();
}

EventReading ReadStreamEvent(std::string_view json_text, Usage& usage, bool count_output) {
  if (!count_output) return {MergeUsageFromChunk(json_text, usage), 0};
  if (!MayCarryUsage(json_text)) return {false, OutputBytesOfEvent(json_text)};
  UsageReader reader;
  OutputBytes counted;
  UsageAndOutput both(reader, counted);
  if (!WalkJson(json_text, both, json_walk::kAnswerMaxDepth)) {  // as each of the two readers fails alone
    usage.implausible = true;
    return {false, static_cast<int64_t>(json_text.size())};
  }
  reader.MergeInto(usage);
  return {reader.UsageOnly(), counted.Bytes()};
}

}  // namespace ap::proxy
