// Usage read from answers and stream events. The reader never builds the answer; these tests hold
// it to what a reader of the fully parsed answer (proxy/usage_reference.hpp) finds, on the providers'
// answers and on thousands of made-up ones full of repeated, misplaced and mistyped members.
#include "proxy/usage.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>

#include "proxy/usage_reference.hpp"

namespace ap::proxy {
namespace {
namespace json = boost::json;

void ExpectSame(const Usage& read, const Usage& parsed, std::string_view text) {
  EXPECT_EQ(read.input_tokens, parsed.input_tokens) << text;
  EXPECT_EQ(read.cached_input_tokens, parsed.cached_input_tokens) << text;
  EXPECT_EQ(read.cache_write_tokens, parsed.cache_write_tokens) << text;
  EXPECT_EQ(read.output_tokens, parsed.output_tokens) << text;
  EXPECT_EQ(read.audio_seconds, parsed.audio_seconds) << text;
  EXPECT_EQ(read.tool_uses, parsed.tool_uses) << text;
  EXPECT_EQ(read.searches_by_candidate, parsed.searches_by_candidate) << text;
  EXPECT_EQ(read.implausible, parsed.implausible) << text;
  EXPECT_EQ(read.one_geo, parsed.one_geo) << text;
  EXPECT_TRUE(read == parsed) << text;  // and any figure added to Usage later
}

// ---- Made-up answers: the members usage is read from, in every shape, repeated, and junk ----

class AnswerMaker {
 public:
  explicit AnswerMaker(uint32_t seed) : random_(seed) {}

  std::string Answer() {
    if (Chance(2)) return Any(3);
    return Object({"message", "response", "usage", "usageMetadata", "output", "candidates", "choices", "id"},
                  [&](std::string_view name) { return AnswerMember(name); });
  }

 private:
  bool Chance(size_t percent) { return Pick(100) < percent; }
  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random_); }
  template <class T>
  const T& OneOf(std::initializer_list<T> items) {
    return items.begin()[Pick(items.size())];
  }

  // A member name as written: now and then with an escape, which names the same member.
  std::string Name(std::string_view name) {
    std::string out = "\"";
    for (char c : name)
      if (Chance(3)) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
        out += escaped;
      } else {
        out += c;
      }
    return out + "\"";
  }

  // An object of 0 to 5 members whose names are drawn from `names` (so repeated at times).
  template <class Value>
  std::string Object(std::initializer_list<std::string_view> names, Value value) {
    std::string out = "{";
    size_t members = Pick(6);
    for (size_t i = 0; i < members; ++i) {
      std::string_view name = names.begin()[Pick(names.size())];
      if (i > 0) out += Chance(10) ? " , " : ",";
      out += Name(name) + (Chance(10) ? " : " : ":") + value(name);
    }
    return out + "}";
  }
  template <class Element>
  std::string Array(Element element) {
    std::string out = "[";
    size_t elements = Pick(5);
    for (size_t i = 0; i < elements; ++i) out += (i > 0 ? "," : "") + element();
    return out + "]";
  }

  std::string Any(int depth) {
    switch (Pick(depth > 0 ? 9 : 7)) {
      case 0:
        return "null";
      case 1:
        return OneOf({"true", "false"});
      case 2:
        return std::to_string(static_cast<int>(Pick(2000)) - 1000);
      case 3:
        return OneOf<std::string>({"1.5", "3.0", "-0.0", "1e3", "2e9", "1e400", "18446744073709551615",
                                   "9223372036854775808", "1000000001", "1000000000"});
      case 4:
        return OneOf<std::string>({R"("")", R"("usage")", R"("duration")", R"("web_search_call")", R"("x\"y")"});
      case 5:
      case 6:
        return Count();
      case 7:
        return Object({"usage", "type", "prompt_tokens", "output", "x"}, [&](std::string_view) { return Any(depth - 1); });
      default:
        return Array([&] { return Any(depth - 1); });
    }
  }

  std::string Count() {
    if (Chance(70)) return std::to_string(Pick(5000));
    return OneOf<std::string>({"null", "-1", "2.5", "7.0", "\"5\"", "true", "{}", "[]", "1e300", "1000000001",
                               "18446744073709551615"});
  }

  std::string Usage(int depth) {
    if (Chance(10)) return Any(depth);
    return Object({"prompt_tokens",
                   "input_tokens",
                   "promptTokenCount",
                   "cache_read_input_tokens",
                   "cache_creation_input_tokens",
                   "completion_tokens",
                   "output_tokens",
                   "candidatesTokenCount",
                   "thoughtsTokenCount",
                   "cachedContentTokenCount",
                   "toolUsePromptTokenCount",
                   "prompt_tokens_details",
                   "input_tokens_details",
                   "server_tool_use",
                   "type",
                   "seconds",
                   "total_tokens",
                   "inference_geo",
                   "cache_creation",
                   "promptTokensDetails",
                   "cacheTokensDetails"},
                  [&](std::string_view name) -> std::string {
                    if (name.ends_with("_details") || name == "server_tool_use" || name == "cache_creation")
                      return Chance(15) ? Any(1)
                                        : Object({"cached_tokens", "web_search_requests", "audio_tokens",
                                                  "ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"},
                                                 [&](std::string_view) { return Count(); });
                    if (name == "type") return Chance(70) ? R"("duration")" : Any(0);
                    if (name == "seconds") return OneOf<std::string>({"3.5", "0", "-1", "1e8", "\"2\"", "null", "12"});
                    if (name == "promptTokensDetails" || name == "cacheTokensDetails") {
                      if (Chance(10)) return Any(1);
                      return Array([&]() -> std::string {
                        if (Chance(10)) return Any(1);
                        return Object({"modality", "tokenCount"}, [&](std::string_view field) -> std::string {
                          if (field == "tokenCount") return Count();
                          return OneOf<std::string>({R"("AUDIO")", R"("TEXT")", R"("AUD\u0049O")", "null", "3"});
                        });
                      });
                    }
                    if (name == "inference_geo")
                      return OneOf<std::string>(
                          {R"("global")", R"("us")", "null", "5", R"("glob\u0061l")", "[]", R"("globalx")"});
                    return Count();
                  });
  }

  std::string OutputItems() {
    if (Chance(10)) return Any(1);
    return Array([&] {
      if (Chance(10)) return Any(1);
      return Object({"type", "id"}, [&](std::string_view name) -> std::string {
        if (name == "id") return Any(1);
        return OneOf<std::string>({R"("web_search_call")", R"("file_search_call")", R"("message")", "5",
                                   R"("web_search_cal\u006c")"});
      });
    });
  }

  std::string Candidates() {
    if (Chance(10)) return Any(1);
    return Array([&] {
      if (Chance(10)) return Any(1);
      return Object(
          {"index", "groundingMetadata", "content", "finishReason"}, [&](std::string_view name) -> std::string {
            if (name == "index")
              return OneOf<std::string>({"0", "1", "3", "-1", "127", "128", "1.0", "\"1\"", "9223372036854775808"});
            if (name == "finishReason") return OneOf<std::string>({"\"STOP\"", "\"\"", "null", "1", "{}"});
            if (name == "content") return Any(2);
            if (Chance(10)) return Any(1);
            return Object({"webSearchQueries", "searchEntryPoint"}, [&](std::string_view) -> std::string {
              if (Chance(10)) return Any(1);
              return Array([&] { return OneOf<std::string>({R"("a")", R"("")", R"("b c")", "5", "null"}); });
            });
          });
    });
  }

  std::string AnswerMember(std::string_view name) {
    if (name == "message" || name == "response") {
      if (Chance(10)) return Any(1);
      return Object({"usage", "output", "id"}, [&](std::string_view inner) -> std::string {
        if (inner == "usage") return Usage(1);
        if (inner == "output") return OutputItems();
        return Any(1);
      });
    }
    if (name == "usage" || name == "usageMetadata") return Usage(1);
    if (name == "output") return OutputItems();
    if (name == "candidates") return Candidates();
    if (name == "choices") return OneOf<std::string>({"[]", "[{}]", "null", "{}", "[[]]"});
    return Any(2);
  }

  std::mt19937 random_;
};

TEST(UsageReader, ReadsWhatAReaderOfTheParsedAnswerReads) {
  std::string_view answers[] = {
      R"({"id":"x","choices":[{"message":{"content":"usage: {\"usage\":1}","usage":{"prompt_tokens":999}}}],
          "usage":{"prompt_tokens":9,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":2}}})",
      R"({"type":"message_start","message":{"usage":{"input_tokens":30,"cache_read_input_tokens":4,"output_tokens":1}}})",
      R"({"type":"response.completed","response":{"output":[{"type":"web_search_call"},{"type":"message",
          "content":[{"type":"web_search_call"}]}],"usage":{"input_tokens":1,"output_tokens":2}}})",
      R"({"candidates":[{"content":{"parts":[{"text":"usageMetadata"}]},"groundingMetadata":{"webSearchQueries":["a"]}},
          {"index":1,"groundingMetadata":{"webSearchQueries":["b","c"]}}],"usageMetadata":{"promptTokenCount":3,
          "candidatesTokenCount":4,"thoughtsTokenCount":1}})",
      R"({"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":7,"completion_tokens":8}})",  // the last one counts
      R"({"usage":{"output_tokens":-1}})",
      R"({"usage":{"prompt_tokens":1},"broken":)",
      // 329 as json::parse reads it with this much text after it (near the text's end it reads
      // 328.99999999999994, which is not a whole count).
      R"({"usage":{"prompt_tokens":328.999999999999976,"completion_tokens":1,"total_tokens":2}})",
      R"({"usage":{"input_tokens":3,"cache_creation_input_tokens":900,"cache_creation":{"ephemeral_5m_input_tokens":200,
          "ephemeral_1h_input_tokens":700},"output_tokens":5}})",
  };
  for (std::string_view answer : answers) {
    Usage read, parsed;
    MergeUsageFromJson(answer, read);
    reference::MergeUsageFromParse(answer, parsed);
    ExpectSame(read, parsed, answer);
  }
  Usage last;
  MergeUsageFromJson(answers[4], last);
  EXPECT_EQ(last.input_tokens, 7);
  Usage audio;  // Gemini's input by modality: its audio is billed at a price of its own
  MergeUsageFromJson(R"({"usageMetadata":{"promptTokenCount":1600,"promptTokensDetails":[{"modality":"TEXT",)"
                     R"("tokenCount":100},{"tokenCount":1500,"modality":"AUDIO"}],"candidatesTokenCount":5}})",
                     audio);
  EXPECT_EQ(audio.input_tokens, 1600);
  EXPECT_EQ(audio.audio_input_tokens, 1500);
  EXPECT_EQ(audio.cached_audio_input_tokens, 0);
  Usage cached_audio;  // and of the input it read from a cache, its audio too
  MergeUsageFromJson(R"({"usageMetadata":{"promptTokenCount":1600,"cachedContentTokenCount":1500,)"
                     R"("promptTokensDetails":[{"modality":"TEXT","tokenCount":100},{"modality":"AUDIO",)"
                     R"("tokenCount":1500}],"cacheTokensDetails":[{"modality":"AUDIO","tokenCount":1000},)"
                     R"({"modality":"AUDIO","tokenCount":500}]}})",
                     cached_audio);
  EXPECT_EQ(cached_audio.cached_input_tokens, 1500);
  EXPECT_EQ(cached_audio.audio_input_tokens, 1500);
  EXPECT_EQ(cached_audio.cached_audio_input_tokens, 1500);
  Usage searched;  // a stream's later chunk that repeats a candidate's grounding without its queries
  for (std::string_view chunk :
       {R"({"candidates":[{"groundingMetadata":{"webSearchQueries":["a","b","c","d"]}}]})",
        R"({"candidates":[{"groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a.example"}}]}}]})"}) {
    MergeUsageFromJson(chunk, searched);
    Usage parsed = searched;
    reference::MergeUsageFromParse(chunk, parsed);
    ExpectSame(searched, parsed, chunk);
  }
  EXPECT_EQ(searched.ToolUses("google_search"), 4) << "the four queries searched stay charged";
  Usage cached;  // Anthropic's cache writes, and which of them are for an hour
  MergeUsageFromJson(answers[8], cached);
  EXPECT_EQ(cached.input_tokens, 903);
  EXPECT_EQ(cached.cache_write_tokens, 900);
  EXPECT_EQ(cached.cache_write_1h_tokens, 700);
}

// Anthropic says where it ran a call: in one geography (billed above the listed prices) or not.
// Once a stream's event said one geography, a later one that says otherwise does not undo it.
TEST(UsageReader, WhereAnthropicRanTheCallIsRead) {
  struct Case {
    std::vector<std::string_view> events;
    std::optional<bool> one_geo;
  } cases[] = {
      {{R"({"usage":{"input_tokens":3,"output_tokens":1}})"}, std::nullopt},
      {{R"({"usage":{"input_tokens":3,"inference_geo":null}})"}, std::nullopt},
      {{R"({"usage":{"input_tokens":3,"inference_geo":"global"}})"}, false},
      {{R"({"usage":{"input_tokens":3,"inference_geo":"glob\u0061l"}})"}, false},
      {{R"({"usage":{"input_tokens":3,"inference_geo":"us"}})"}, true},
      {{R"({"usage":{"input_tokens":3,"inference_geo":{"region":"us"}}})"}, true},  // not "global"
      {{R"({"usage":{"inference_geo":"us","inference_geo":"global"}})"}, false},    // the last one counts
      {{R"({"type":"message_start","message":{"usage":{"input_tokens":3,"inference_geo":"us"}}})",
        R"({"type":"message_delta","usage":{"output_tokens":9}})"},
       true},
      {{R"({"type":"message_start","message":{"usage":{"input_tokens":3,"inference_geo":"us"}}})",
        R"({"type":"message_delta","usage":{"output_tokens":9,"inference_geo":"global"}})"},
       true},
  };
  for (const Case& c : cases) {
    Usage read, parsed;
    for (std::string_view event : c.events) {
      MergeUsageFromChunk(event, read);
      reference::MergeUsageFromParse(event, parsed);
    }
    EXPECT_EQ(read.one_geo, c.one_geo) << c.events.front();
    ExpectSame(read, parsed, c.events.front());
  }
}

// Gemini reports what its tools (URL context, code execution) gave the model apart from the
// prompt; Google bills it as input, so the broker charges it as input.
TEST(UsageReader, GeminisToolResultsAreInput) {
  std::string_view answer = R"({"candidates":[{"content":{"parts":[{"text":"ok"}]}}],"usageMetadata":{
      "promptTokenCount":10,"candidatesTokenCount":4,"toolUsePromptTokenCount":90000,"thoughtsTokenCount":2,
      "totalTokenCount":90016}})";
  for (bool whole : {true, false}) {
    Usage usage;
    if (whole)
      MergeUsageFromJson(answer, usage);
    else
      MergeUsageFromChunk(answer, usage);
    EXPECT_EQ(usage.input_tokens, 90010);
    EXPECT_EQ(usage.output_tokens, 6);
    EXPECT_FALSE(usage.implausible);
  }
}

// Whether the provider's closing usage was read: what only an answer's end carries.
TEST(UsageReader, TheClosingUsageIsTold) {
  for (
      auto [event, closed] : {
          std::pair{R"({"type":"message_start","message":{"usage":{"input_tokens":7,"output_tokens":1}}})", false},
          std::pair{R"({"type":"message_delta","delta":{},"usage":{"output_tokens":9,"input_tokens":70}})", true},
          std::pair{R"({"type":"response.created","response":{"usage":null}})", false},
          std::pair{R"({"type":"response.completed","response":{"usage":{"input_tokens":7,"output_tokens":2}}})", true},
          std::pair{R"({"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}})", true},
          std::pair{R"({"type":"speech.audio.done","usage":{"input_tokens":7,"output_tokens":90}})", true},
          std::pair{R"({"type":"transcript.text.done","text":"hi","usage":{"input_tokens":70,"output_tokens":2}})",
                    true},
          std::pair{R"({"type":"image_generation.completed","usage":{"input_tokens":7,"output_tokens":272}})", true},
          std::pair{R"({"candidates":[],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":2}})", false},
          // Gemini's usage closes with a finished candidate beside it, not otherwise.
          std::pair{R"({"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"STOP"}],)"
                    R"("usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":2}})",
                    true},
          std::pair{
              R"({"candidates":[{"finishReason":"STOP","finishReason":null}],"usageMetadata":{"promptTokenCount":7}})",
              false},
          std::pair{R"({"candidates":[{"finishReason":"MAX_TOKENS"}]})", false},
          std::pair{
              R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"finishReason":"STOP"}}}]}}],)"
              R"("usageMetadata":{"promptTokenCount":7}})",
              false},
      }) {
    Usage read, parsed;
    MergeUsageFromChunk(event, read);
    reference::MergeUsageFromParse(event, parsed);
    EXPECT_EQ(read.closed, closed) << event;
    EXPECT_EQ(parsed.closed, closed) << event;
  }
}

// Gemini's running totals tell a cut stream's output only once they count the candidates' output:
// thoughts come before the answer's text, and a count of 0 is none.
TEST(UsageReader, GeminisRunningTotalsCountTheOutputOnlyWithTheCandidatesCount) {
  for (auto [event, counted] : {
           std::pair{R"({"usageMetadata":{"promptTokenCount":10,"thoughtsTokenCount":50}})", false},
           std::pair{R"({"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":0}})", false},
           std::pair{R"({"usageMetadata":{"promptTokenCount":10,"totalTokenCount":10}})", false},
           std::pair{R"({"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":3}})", true},
       }) {
    Usage read, parsed;
    MergeUsageFromChunk(event, read);
    reference::MergeUsageFromParse(event, parsed);
    EXPECT_EQ(read.output_counted, counted) << event;
    EXPECT_EQ(parsed.output_counted, counted) << event;
  }
}

TEST(UsageReader, AgreesWithTheParsedAnswerOnTwentyThousandMadeUpOnes) {
  AnswerMaker maker(20261201);
  int with_usage = 0, implausible = 0, tools = 0, invalid = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string answer = maker.Answer();
    if (i % 50 == 0) answer.pop_back();  // now and then not JSON
    // Every other one folds into usage already read, as a stream's later events do.
    Usage read, parsed;
    if (i % 2 == 1) {
      for (Usage* u : {&read, &parsed}) {
        u->input_tokens = 5;
        u->output_tokens = 6;
        u->searches_by_candidate = {2};
        u->SetToolUses("google_search", 2);
      }
    }
    bool read_only_usage = MergeUsageFromChunk(answer, read);
    bool parsed_only_usage = reference::MergeUsageFromParse(answer, parsed);
    ExpectSame(read, parsed, answer);
    EXPECT_EQ(read_only_usage, parsed_only_usage) << answer;
    if (HasFailure()) return;
    boost::system::error_code ec;
    json::parse(answer, ec);
    invalid += ec ? 1 : 0;
    with_usage += parsed.input_tokens > 5 || parsed.output_tokens > 6 ? 1 : 0;
    implausible += parsed.implausible ? 1 : 0;
    tools += parsed.tool_uses.size() > static_cast<size_t>(i % 2) ? 1 : 0;
  }
  // The made-up answers reach every kind of outcome, often.
  EXPECT_GT(with_usage, 2000);
  EXPECT_GT(implausible, 1000);
  EXPECT_GT(tools, 1000);
  EXPECT_GT(invalid, 300);
}

TEST(UsageReader, OnlyANullUsageIsPassedOverUnparsed) {
  EXPECT_FALSE(MayCarryUsage(R"({"choices":[{"delta":{"content":"x"}}],"usage":null})"));
  EXPECT_TRUE(MayCarryUsage(R"({"usage" : null,"usage":{"prompt_tokens":3}})"));
  EXPECT_TRUE(MayCarryUsage(R"({"usage":null,"usageMetadata":{"promptTokenCount":3}})"));
  EXPECT_TRUE(MayCarryUsage(R"({"usage":{"prompt_tokens":3}})"));
  EXPECT_TRUE(MayCarryUsage(R"({"x":"\"usage\":null","usage":{}})"));
  Usage usage;
  MergeUsageFromJson(R"({"usage":null,"usage":{"prompt_tokens":3}})", usage);
  EXPECT_EQ(usage.input_tokens, 3);
}

TEST(UsageReader, OnlyOpenAIsUsageOnlyChunkIsMarkedForStripping) {
  Usage usage;
  EXPECT_TRUE(MergeUsageFromChunk(R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}})", usage));
  EXPECT_EQ(usage.output_tokens, 4);
  EXPECT_FALSE(MergeUsageFromChunk(R"({"choices":[{"delta":{}}],"usage":{"prompt_tokens":3}})", usage));
  EXPECT_FALSE(MergeUsageFromChunk(R"({"choices":[{"delta":{"content":"x"}}],"usage":null})", usage));
  EXPECT_FALSE(MergeUsageFromChunk(R"({"choices":[],"usage":null})", usage));
  EXPECT_FALSE(MergeUsageFromChunk(R"({"x":{"choices":[],"usage":{"prompt_tokens":3}}})", usage));
  EXPECT_FALSE(MergeUsageFromChunk(R"({"choices":[],"usage":{}})"
                                   "x",
                                   usage));
}

TEST(UsageReader, ReadsMembersNamedWithEscapesAndPastLongStrings) {
  Usage usage;
  std::string long_text(100000, 'a');
  MergeUsageFromJson(R"({"content":")" + long_text + R"(","usage":{"prompt_tok\u0065ns":4,)" +
                         R"("a_member_name_longer_than_any_read_here_at_all":1,"completion_tokens":2}})",
                     usage);
  EXPECT_EQ(usage.input_tokens, 4);
  EXPECT_EQ(usage.output_tokens, 2);

  // A name read in parts (an escape splits it) and longer than any read here names nothing, even
  // where it begins with one that does: it comes last, so naming the count would replace it.
  Usage parts;
  MergeUsageFromJson(R"({"usage":{"completion_tokens":2,)"
                     R"("completion_tok\u0065ns_and_a_tail_that_makes_the_name_long":9}})",
                     parts);
  EXPECT_EQ(parts.output_tokens, 2);
}

// A cut stream's output is bounded from above by the bytes its events wrote, whichever provider.
TEST(OutputBytesOfEvent, CountsTheOutputAnEventWroteAndNothingElse) {
  // OpenAI's chat chunk: the content only, unescaped (not its id, model or role).
  EXPECT_EQ(OutputBytesOfEvent(R"({"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o-mini",)"
                               R"("choices":[{"index":0,"delta":{"role":"assistant","content":"Hello, wörld"},)"
                               R"("finish_reason":null}]})"),
            13);  // ö is two bytes
  // A tool call: its name and its arguments as written so far.
  EXPECT_EQ(OutputBytesOfEvent(R"({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function",)"
                               R"("function":{"name":"get_weather","arguments":"{\"city\""}}]}}]})"),
            11 + 7);
  // Anthropic: a text delta of several tokens, a tool's JSON, thinking.
  EXPECT_EQ(
      OutputBytesOfEvent(
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"The quick brown fox"}})"),
      19);
  EXPECT_EQ(
      OutputBytesOfEvent(
          R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\": 1"}})"),
      7);
  EXPECT_EQ(OutputBytesOfEvent(
                R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm"}})"),
            3);
  // OpenAI's Responses API: a string delta.
  EXPECT_EQ(OutputBytesOfEvent(R"({"type":"response.output_text.delta","item_id":"msg_1","delta":"abc"})"), 3);
  // Gemini: its parts' text, and a function call's args whole (keys, strings, numbers, literals).
  EXPECT_EQ(
      OutputBytesOfEvent(R"({"candidates":[{"content":{"parts":[{"text":"Hi there"}],"role":"model"},"index":0}]})"),
      8);
  EXPECT_EQ(OutputBytesOfEvent(R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f",)"
                               R"("args":{"city":"Paris","days":[3,true,null]}}}]}}]})"),
            1 + 4 + 5 + 4 + 1 + 4 + 4);
  // Gemini's code execution: the code the model wrote.
  EXPECT_EQ(OutputBytesOfEvent(R"({"candidates":[{"content":{"parts":[{"executableCode":)"
                               R"j({"language":"PYTHON","code":"print(1)"}}]}}]})j"),
            8);
  // Reasoning and refusals are written by the model too; a key of the same length and first letter
  // as one of those names, or of another case, is not one of them.
  EXPECT_EQ(OutputBytesOfEvent(R"({"choices":[{"delta":{"reasoning_content":"ab","reasoning":"c","refusal":"no"}}]})"),
            5);
  EXPECT_EQ(OutputBytesOfEvent(R"({"choices":[{"delta":{"reasoning_contenT":"ab","rEfusal":"no","Text":"x",)"
                               R"("tExt":"y","texts":"z","":"w"}}]})"),
            0);
  // Nothing of output.
  EXPECT_EQ(OutputBytesOfEvent(R"({"type":"message_stop"})"), 0);
  // What cannot be read counts whole: any of it may be output.
  EXPECT_EQ(OutputBytesOfEvent("[DONE]"), 6);
  EXPECT_EQ(OutputBytesOfEvent(R"({"delta":{"content":"cut)"), 24);
}

// A Gemini chunk whose function call's args the model nested deep: what the app's JSON.parse reads
// (no depth bound) is read here too, and what cannot be read never leaves an earlier chunk's
// running totals as the call's usage.
std::string DeepGeminiChunk(int depth, int64_t output_tokens) {
  std::string args = std::string(depth, '[') + "1" + std::string(depth, ']');
  return R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"v":)" + args +
         R"(}}}],"role":"model"},"finishReason":"STOP","index":0}],)"
         R"("usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":)" +
         std::to_string(output_tokens) + "}}";
}

// Anthropic's message_delta gives its input figures as nullable running totals: one that leaves out
// (or nulls) the cache writes message_start gave keeps them, and the input they are part of.
TEST(UsageReader, AFigureALaterObjectLeavesOutKeepsItsLastValue) {
  Usage usage;
  MergeUsageFromChunk(
      R"({"type":"message_start","message":{"usage":{"input_tokens":10,"cache_creation_input_tokens":5000,)"
      R"("cache_read_input_tokens":200,"output_tokens":1}}})",
      usage);
  MergeUsageFromChunk(
      R"({"type":"message_delta","delta":{},"usage":{"input_tokens":10,"cache_creation_input_tokens":null,)"
      R"("cache_read_input_tokens":null,"output_tokens":300}})",
      usage);
  EXPECT_EQ(usage.input_tokens, 5210);
  EXPECT_EQ(usage.cache_write_tokens, 5000);
  EXPECT_EQ(usage.cached_input_tokens, 200);
  EXPECT_EQ(usage.output_tokens, 300);
  MergeUsageFromChunk(
      R"({"type":"message_delta","delta":{},"usage":{"output_tokens":310,"cache_read_input_tokens":250}})", usage);
  EXPECT_EQ(usage.input_tokens, 5260) << "a figure given again replaces the one before";
  EXPECT_EQ(usage.cached_input_tokens, 250);
  EXPECT_EQ(usage.output_tokens, 310);
}

// One walk for both readings gives what each gives alone: figures, the usage-only answer, bytes,
// and for text that cannot be read, the worst case and every byte.
TEST(ReadStreamEvent, ReadsWhatTheTwoReadersReadApart) {
  const std::string events[] = {
      R"({"candidates":[{"content":{"parts":[{"text":"Hi there"}],"role":"model"},"index":0}],)"
      R"("usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4,"totalTokenCount":14}})",
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}})",
      R"({"choices":[{"delta":{"content":"x"}}],"usage":null})",
      R"({"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":5}})",
      R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":[1,"é"]}}}]}}],)"
      R"("usageMetadata":{"candidatesTokenCount":7}})",
      DeepGeminiChunk(600, 9),
      R"({"delta":{"text":"cut"},"usage":{"output_tokens":)",
      "[DONE]"};
  for (const std::string& event : events) {
    for (bool count_output : {false, true}) {
      Usage apart, together;
      apart.output_tokens = together.output_tokens = 2;  // an earlier event's figures
      bool usage_only = MergeUsageFromChunk(event, apart);
      EventReading read = ReadStreamEvent(event, together, count_output);
      EXPECT_EQ(together, apart) << event;
      EXPECT_EQ(read.usage_only, usage_only) << event;
      EXPECT_EQ(read.output_bytes, count_output ? OutputBytesOfEvent(event) : 0) << event;
    }
  }
}

TEST(UsageReader, AChunkNestedDeeperThanARequestMayIsReadAndOneNestedPastAnyBoundIsTheWorstCase) {
  Usage usage;
  MergeUsageFromChunk(R"({"candidates":[{"content":{"parts":[{"text":"Calling now."}]}}],)"
                      R"("usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4}})",
                      usage);
  EXPECT_EQ(usage.output_tokens, 4);
  MergeUsageFromChunk(DeepGeminiChunk(40, 60000), usage);
  EXPECT_EQ(usage.output_tokens, 60000) << "the last chunk's totals, nested past 32 levels";
  EXPECT_FALSE(usage.implausible);
  EXPECT_EQ(OutputBytesOfEvent(DeepGeminiChunk(40, 60000)), 3) << "read too: the name, the key, the number";

  Usage beyond;
  MergeUsageFromChunk(DeepGeminiChunk(600, 60000), beyond);
  EXPECT_TRUE(beyond.implausible) << "unreadable: charged its worst case";
  EXPECT_EQ(OutputBytesOfEvent(DeepGeminiChunk(600, 60000)), static_cast<int64_t>(DeepGeminiChunk(600, 60000).size()));
}

}  // namespace
}  // namespace ap::proxy
