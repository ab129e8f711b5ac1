// The targeted reader of request bodies: it must read exactly what the full parse reads (as the
// providers read it), refuse what it refuses, and never mistake a nested member for a top-level
// one.
#include "proxy/json_scan.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "proxy/endpoints.hpp"
#include "proxy/json_call.hpp"

namespace ap::proxy {
namespace {
namespace json = boost::json;

const NativeEndpoint& Endpoint(Provider wire, std::string_view path) {
  for (const NativeEndpoint& ep : NativeEndpoints())
    if (ep.wire == wire && ep.path == path) return ep;
  throw std::runtime_error("no endpoint " + std::string(path));
}
const NativeEndpoint& ChatCompletions() { return Endpoint(Provider::kOpenAI, "/v1/chat/completions"); }
const NativeEndpoint& Messages() { return Endpoint(Provider::kAnthropic, "/v1/messages"); }

Result<JsonCall> Read(const NativeEndpoint& ep, std::string_view body, bool bound_tools = true) {
  return ReadJsonCall(ep, std::string(body), bound_tools);
}

TEST(JsonScan, KeepsOnlyTheNamedMembersAndValidatesTheRest) {
  static constexpr ScanRule kAll{ScanKeep::kAll};
  static constexpr ScanMember kMembers[] = {{"a", &kAll}};
  static constexpr ScanRule kRoot{ScanKeep::kSelect, kMembers};
  auto scan = ScanJson(R"({"b":{"a":1},"a":{"x":[1,2]},"c":[{"a":2}]})", kRoot, Duplicates::kRefuse);
  ASSERT_TRUE(scan.valid);
  EXPECT_EQ(json::serialize(scan.value), R"({"a":{"x":[1,2]}})");
  for (std::string_view broken : {R"({"a":1)", R"({"a":1}})", R"({"a":1,})", R"({"b":[1,}],"a":1})", "",
                                  R"({"b":tru,"a":1})", "{\"b\":\"\xff\",\"a\":1}", R"({"a":1} x)"})
    EXPECT_FALSE(ScanJson(broken, kRoot, Duplicates::kRefuse).valid) << broken;
  EXPECT_TRUE(ScanJson(" {\"a\":1} \n", kRoot, Duplicates::kRefuse).valid);
  // As deep as json::parse allows, and not deeper.
  std::string deep = "{\"b\":" + std::string(31, '[') + std::string(31, ']') + "}";
  EXPECT_TRUE(ScanJson(deep, kRoot, Duplicates::kRefuse).valid);
  std::string deeper = "{\"b\":" + std::string(32, '[') + std::string(32, ']') + "}";
  boost::system::error_code ec;
  json::parse(deeper, ec);
  EXPECT_EQ(ScanJson(deeper, kRoot, Duplicates::kRefuse).valid, !ec);
}

TEST(JsonScan, AnExtendedRuleKeepsTheMembersOfBoth) {
  static constexpr ScanRule kAll{ScanKeep::kAll};
  static constexpr ScanMember kBase[] = {{"a", &kAll}};
  static constexpr ScanRule kBaseRule{ScanKeep::kSelect, kBase};
  static constexpr ScanMember kMore[] = {{"b", &kAll}};
  static constexpr ScanRule kExtended{ScanKeep::kSelect, kMore, nullptr, nullptr, &kBaseRule};
  auto scan = ScanJson(R"({"c":1,"b":[2],"a":{"b":3},"d":{"a":4}})", kExtended, Duplicates::kRefuse);
  ASSERT_TRUE(scan.valid);
  EXPECT_EQ(scan.value, json::parse(R"({"b":[2],"a":{"b":3}})"));
  // Only at the level of the rule: a nested object is kept by its own member's rule.
  EXPECT_EQ(ScanJson(R"({"a":1,"a":2})", kExtended, Duplicates::kRefuse).duplicate, "a");
  EXPECT_EQ(ScanJson(R"({"b":1,"b":2})", kExtended, Duplicates::kRefuse).duplicate, "b");
}

TEST(JsonScan, ShapesAndKindsKeepContainersEmpty) {
  static constexpr ScanRule kShape{ScanKeep::kShape};
  static constexpr ScanRule kKind{ScanKeep::kKind};
  static constexpr ScanMember kMembers[] = {{"shape", &kShape}, {"kind", &kKind}};
  static constexpr ScanRule kElement{ScanKeep::kSelect, kMembers};
  static constexpr ScanRule kRoot{ScanKeep::kSelect, {}, nullptr, &kElement};
  auto scan = ScanJson(R"([{"shape":"text","kind":"text"},{"shape":[1,{"a":2}],"kind":[1]},)"
                       R"({"shape":{"a":1},"kind":{"a":"b"}},{"shape":7,"kind":7},{"shape":[],"kind":null}])",
                       kRoot, Duplicates::kRefuse);
  ASSERT_TRUE(scan.valid);
  EXPECT_EQ(scan.value, json::parse(R"([{"shape":"text","kind":""},{"shape":[null],"kind":[null]},)"
                                    R"({"shape":{},"kind":{}},{"shape":7,"kind":7},{"shape":[],"kind":null}])"));
}

// A kind's string is checked as any string is, though its text is not kept; the member after it
// is read whole, an escaped name too.
TEST(JsonScan, AKindsStringIsCheckedAndTheNextMemberRead) {
  static constexpr ScanRule kAll{ScanKeep::kAll};
  static constexpr ScanRule kKind{ScanKeep::kKind};
  static constexpr ScanMember kMembers[] = {{"kind", &kKind}, {"n\"ext", &kAll}};
  static constexpr ScanRule kRoot{ScanKeep::kSelect, kMembers};
  auto scan = ScanJson(R"({"kind":"line\none \"quoted\" \u00e9\ud83d\ude00","n\"ext":"a\tb","kind2":"\n"})", kRoot,
                       Duplicates::kRefuse);
  ASSERT_TRUE(scan.valid);
  EXPECT_EQ(scan.value, json::parse(R"({"kind":"","n\"ext":"a\tb"})"));
  for (std::string_view bad : {R"({"kind":"\x"})", R"({"kind":"\ud83d"})", "{\"kind\":\"a\x01\"}", R"({"kind":"\u12"})",
                               "{\"kind\":\"\xc3\"}", R"({"kind":"a)"})
    EXPECT_FALSE(ScanJson(bad, kRoot, Duplicates::kRefuse).valid) << bad;
}

// kSelectKind keeps a conversation's structure without its text: strings empty (checked, not
// unescaped), elements and named members by their rules, whatever follows read whole.
TEST(JsonScan, ASelectKindKeepsStructureAndKindsNotText) {
  static constexpr ScanRule kAll{ScanKeep::kAll};
  static constexpr ScanMember kPartMembers[] = {{"type", &kAll}};
  static constexpr ScanRule kPart{ScanKeep::kSelectKind, kPartMembers};
  static constexpr ScanRule kContent{ScanKeep::kSelectKind, {}, nullptr, &kPart};
  static constexpr ScanMember kMembers[] = {{"content", &kContent}, {"n\"ext", &kAll}};
  static constexpr ScanRule kRoot{ScanKeep::kSelect, kMembers};
  auto scan =
      ScanJson(R"({"content":["a\nb",{"type":"te\u0078t","text":"x\ty"},"\ud83d\ude00",7,[1]],"n\"ext":"a\tb"})", kRoot,
               Duplicates::kRefuse);
  ASSERT_TRUE(scan.valid);
  EXPECT_EQ(scan.value, json::parse(R"({"content":["",{"type":"text"},"",7,[]],"n\"ext":"a\tb"})"));
  auto text = ScanJson(R"({"content":"line\none","n\"ext":1})", kRoot, Duplicates::kRefuse);
  ASSERT_TRUE(text.valid);
  EXPECT_EQ(text.value, json::parse(R"({"content":"","n\"ext":1})"));
  for (std::string_view bad : {R"({"content":["\x"]})", R"({"content":["\ud83d"]})", "{\"content\":[\"a\x01\"]}",
                               R"({"content":"\u12"})", R"({"content":[{"type":"a","type":"b"}]})"})
    EXPECT_FALSE(ScanJson(bad, kRoot, Duplicates::kRefuse).valid) << bad;
}

TEST(JsonScan, KeysAndValuesAreReadAsTheFullParseReadsThem) {
  static constexpr ScanRule kAll{ScanKeep::kAll};
  static constexpr ScanMember kMembers[] = {{"k\\\"y", &kAll}, {"n", &kAll}, {"list", &kAll}};
  static constexpr ScanRule kRoot{ScanKeep::kSelect, kMembers};
  // Escaped keys followed by escaped values, the last of two kept (as json::parse keeps it) unless refused.
  for (std::string_view text :
       {R"({"k\\\"y":"v\u00e9","\u006e":"w\n","n":-12,"list":[true,null,1.5,"\"",18446744073709551615]})",
        R"({"n":0,"list":{},"list":[true,null,1.5,"\"",18446744073709551615],"k\\\"y":"v\u00e9","n":"w\n"})"}) {
    auto scan = ScanJson(text, kRoot, Duplicates::kLastWins);
    ASSERT_TRUE(scan.valid) << text;
    EXPECT_EQ(scan.value, json::parse(text)) << text;
  }
  // A key with a multi-byte character is read in the text; written with an escape, it is rewritten.
  static constexpr ScanMember kWide[] = {{"k\u00e9y", &kAll}, {"n", &kAll}};
  static constexpr ScanRule kWideRoot{ScanKeep::kSelect, kWide};
  for (std::string wide :
       {"{\"k\u00e9y\":\"v\\u00e9\\n\",\"n\":\"\u00e9\"}", "{\"k\\u00e9y\":\"v\\u00e9\\n\",\"n\":\"\u00e9\"}"}) {
    auto scan = ScanJson(wide, kWideRoot, Duplicates::kRefuse);
    ASSERT_TRUE(scan.valid) << wide;
    EXPECT_EQ(scan.value, json::parse(wide)) << wide;
    EXPECT_EQ(scan.value.as_object().size(), 2u) << wide;
  }
  auto refused = ScanJson(R"({"\u006e":1,"n":2})", kRoot, Duplicates::kRefuse);
  EXPECT_FALSE(refused.valid);
  EXPECT_EQ(refused.duplicate, "n");
}

TEST(JsonScan, ANonArrayHasNoElements) {
  for (std::string_view text : {R"({"t":"b","u":{}})", R"({"t":7})", R"({"t":{"a":[1]}})", R"({"t":null})"}) {
    auto members = ObjectMembers(text, FirstValue(text));
    ASSERT_FALSE(members.empty()) << text;
    EXPECT_TRUE(ArrayElements(text, members[0].value_begin).empty()) << text;
  }
  std::string_view array = R"({"t":[1, "x" ,{"k":[2]}]})";
  EXPECT_EQ(ArrayElements(array, ObjectMembers(array, 0)[0].value_begin).size(), 3u);
  // Where no value is, the elements end (the text is not JSON).
  EXPECT_EQ(ArrayElements("[1,}", 0).size(), 1u);
}

TEST(JsonScan, SplicedMembersLandInTheRightObject) {
  std::string text = R"( { "x" : {"k":"}"} , "k\"" : [1, {"k":2}] , "k" : 3 } )";
  auto members = ObjectMembers(text, FirstValue(text));
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(MemberName(members[1]), "k\"");
  TextEdits edits;
  edits.SetMember(text, FirstValue(text), "k", "4");
  edits.SetMember(text, FirstValue(text), "new", "true");
  edits.SetMember(text, members[0].value_begin, "z", "null");
  auto out = json::parse(edits.Apply(text));
  EXPECT_EQ(out, json::parse(R"({"x":{"k":"}","z":null},"k\"":[1,{"k":2}],"k":4,"new":true})"));
  TextEdits into_empty;
  into_empty.SetMember("{ }", 0, "a", "1");
  into_empty.SetMember("{ }", 0, "b", "2");
  EXPECT_EQ(json::parse(into_empty.Apply("{ }")), json::parse(R"({"a":1,"b":2})"));
}

// The bytes themselves: member order, separators, and names written as JSON writes them (escaped
// where they must be, UTF-8 and DEL as they are), edits applied in the text's order whatever order
// they were made in, two at one place in the order they were made.
TEST(JsonScan, EditsComeOutByteForByte) {
  std::string text = R"({"a":1,"b":{"c":2}})";
  TextEdits edits;
  edits.SetMember(text, 0, "q\"uo\\te\n", "3");                 // added at the end
  edits.SetMember(text, 0, "a", "[]");                          // replaced, before the addition
  edits.SetMember(text, 11, "\xc3\xa9t\xc3\xa9\x7f", "\"x\"");  // into "b", before both in the text
  edits.SetMember(text, 0, "z", "null", true);                  // at the end too, after the first
  EXPECT_EQ(edits.Apply(text),
            "{\"a\":[],\"b\":{\"c\":2,\"\xc3\xa9t\xc3\xa9\x7f\":\"x\"},"
            "\"q\\\"uo\\\\te\\n\":3,\"z\":null}");
  TextEdits in_order;
  in_order.SetMember("{}", 0, "first", "1");
  in_order.SetMember("{}", 0, "second", "2");
  EXPECT_EQ(in_order.Apply("{}"), R"({"first":1,"second":2})");
}

TEST(JsonCall, EscapedKeysAreTheKeysTheyName) {
  auto call = Read(ChatCompletions(), R"({"mod\u0065l":"gpt-4o","m\u0061x_tokens":7000})");
  ASSERT_TRUE(call);
  EXPECT_EQ(call->model, "gpt-4o");
  EXPECT_EQ(call->asked.output_tokens, 7000);
  // Escaped and plain spellings of one key are one key given twice.
  auto twice = Read(ChatCompletions(), R"({"model":"gpt-4o-mini","mod\u0065l":"o1"})");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "'model' is given twice");
}

TEST(JsonCall, NestedMembersAreNotReadAsTopLevel) {
  auto call = Read(ChatCompletions(), R"({"messages":[{"role":"user","content":"hi","model":"o1","max_tokens":1,
      "stream":true}],"metadata":{"model":"o1","max_tokens":5,"n":100},"model":"gpt-4o-mini"})");
  ASSERT_TRUE(call);
  EXPECT_EQ(call->model, "gpt-4o-mini");
  EXPECT_EQ(call->asked.output_tokens, std::nullopt);  // no limit named: the model's limit applies
  EXPECT_EQ(call->asked.answers, 1);
  EXPECT_FALSE(call->stream);
  EXPECT_FALSE(Read(ChatCompletions(), R"({"messages":[{"model":"gpt-4o"}]})"));  // 'model' is required
}

TEST(JsonCall, APolicyMemberGivenTwiceIsRefused) {
  // Providers read the last of two; the broker refuses rather than read a different one.
  for (std::string_view body :
       {R"({"model":"gpt-4o-mini","max_tokens":10,"max_tokens":100000})", R"({"model":"gpt-4o-mini","n":1,"n":128})",
        R"({"model":"gpt-4o-mini","stream":false,"stream":true})",
        R"({"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true,"include_usage":false}})",
        R"({"model":"gpt-4o-mini","tools":[{"type":"function","type":"web_search"}]})",
        R"({"model":"gpt-4o-mini","tools":[],"tools":[{"type":"web_search"}]})"}) {
    auto call = Read(ChatCompletions(), body);
    ASSERT_FALSE(call) << body;
    EXPECT_EQ(call.error().code, Errc::kBadRequest);
    EXPECT_NE(call.error().message.find("is given twice"), std::string::npos) << body;
  }
  auto gemini = ReadJsonCall(*GeminiAction(":generateContent"),
                             R"({"generationConfig":{"maxOutputTokens":1,"maxOutputTokens":60000}})", true);
  EXPECT_FALSE(gemini);
  // A member policy does not read may repeat, as before.
  EXPECT_TRUE(
      Read(ChatCompletions(), R"({"model":"gpt-4o-mini","user":"a","user":"b","temperature":1,"temperature":0})"));
}

// Google bills and runs the path's model; a body naming another beside it is refused, not left to
// the provider's reading of the two.
TEST(JsonCall, AGeminiBodyNamesNoModelButThePaths) {
  const NativeEndpoint& batch = *GeminiAction(":batchEmbedContents");
  auto read = [](const NativeEndpoint& ep, std::string body, std::string_view path_model) {
    return ReadJsonCall(ep, std::move(body), true, path_model);
  };
  EXPECT_TRUE(read(batch, R"({"requests":[{"model":"models/gemini-embedding-001","content":{}},{"content":{}}]})",
                   "gemini-embedding-001"));
  auto other = read(batch, R"({"requests":[{"model":"models/gemini-embedding-001"},{"model":"models/big"}]})",
                    "gemini-embedding-001");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kBadRequest);
  EXPECT_EQ(other.error().message,
            "requests[1].model names 'models/big', not the model in the path, 'gemini-embedding-001'");
  const NativeEndpoint& generate = *GeminiAction(":generateContent");
  EXPECT_FALSE(read(generate, R"({"model":"gemini-2.5-pro","contents":[]})", "gemini-2.5-flash"));
  EXPECT_TRUE(read(generate, R"({"model":"gemini-2.5-pro","contents":[]})", "gemini-2.5-pro"));
  EXPECT_FALSE(read(generate, R"({"model":"models/gemini-2.5-pro-x","contents":[]})", "gemini-2.5-pro"));
  EXPECT_FALSE(read(batch, R"({"requests":[{"model":7}]})", "m"));
  for (std::string_view name : {"generateContentRequest", "generate_content_request"})
    EXPECT_FALSE(read(*GeminiAction(":countTokens"),
                      R"({")" + std::string(name) + R"(":{"model":"models/gemini-2.5-pro","contents":[]}})",
                      "gemini-2.5-flash"))
        << name;
  // Named twice in one request: refused as any policy member given twice.
  EXPECT_FALSE(read(batch, R"({"requests":[{"model":"models/a","model":"models/a"}]})", "a"));
}

TEST(JsonCall, NumbersAreReadAsBeforeOrRefused) {
  for (std::string_view limit : {"-5", "0", "1e300", "2.5", "\"100\"", "18446744073709551615", "-9223372036854775809",
                                 "1000000001", "true", "{}", "[1]"}) {
    std::string body = R"({"model":"gpt-4o-mini","max_tokens":)" + std::string(limit) + "}";
    auto call = Read(ChatCompletions(), body);
    ASSERT_FALSE(call) << body;
    EXPECT_EQ(call.error().message, "'max_tokens' must be a whole number from 1 to 1000000000") << body;
  }
  EXPECT_EQ(Read(ChatCompletions(), R"({"model":"m","max_tokens":2.0e3})")->asked.output_tokens, 2000);
  EXPECT_EQ(Read(ChatCompletions(), R"({"model":"m","max_tokens":null})")->asked.output_tokens, std::nullopt);
  EXPECT_EQ(Read(Messages(), R"({"model":"claude","max_tokens":1000000000})")->asked.output_tokens, 1000000000);
}

TEST(JsonCall, InvalidBodiesAreRefusedAsBefore) {
  for (std::string_view body : {"", "[]", "\"model\"", R"({"model":"gpt-4o-mini",})", R"({"model":"gpt-4o-mini"} {})",
                                R"({"model":"gpt-4o-mini","x":NaN})", "{\"model\":\"gpt-4o-mini\",\"x\":\"\xc3\"}",
                                R"({"model":"gpt-4o-mini" /* c */})"}) {
    auto call = Read(ChatCompletions(), body);
    ASSERT_FALSE(call) << body;
    EXPECT_EQ(call.error().message, "The request body must be a JSON object") << body;
  }
  EXPECT_EQ(Read(ChatCompletions(), R"({"model":""})").error().message, "'model' must be a non-empty string");
  EXPECT_EQ(Read(ChatCompletions(), R"({"model":"m","stream":"yes"})").error().message,
            "'stream' must be true or false");
}

TEST(JsonCall, TheBodyGoesUpstreamAsTheAppSentItUnlessTheBrokerAddsToIt) {
  // (A grant with a budget adds the standard tier where the app names none: here it does.)
  std::string body =
      "{ \"model\" : \"gpt-4o-mini\",\n \"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\"}], \"x\": 1.50, "
      "\"service_tier\" :\"default\" }";
  EXPECT_EQ(Read(ChatCompletions(), body)->body, body);
  EXPECT_EQ(
      Read(ChatCompletions(), R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})", false)->body,
      R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})");
}

// The scan keeps what policy reads of Gemini's generationConfig: its thinkingConfig too.
TEST(JsonCall, GeminisThinkingConfigIsSeenThroughTheScan) {
  const NativeEndpoint& stream = Endpoint(Provider::kGoogle, ":streamGenerateContent");
  auto thinking = Read(stream, R"({"contents":[],"generationConfig":{"thinkingConfig":{"thinkingBudget":9000}}})");
  ASSERT_TRUE(thinking);
  EXPECT_TRUE(thinking->asked.reasons_unseen);
  EXPECT_FALSE(Read(stream, R"({"contents":[],"generationConfig":{"temperature":1}})")->asked.reasons_unseen);
}

TEST(JsonCall, OpenAIsServerSideCompactionIsRefusedOnABudget) {
  const NativeEndpoint& responses = Endpoint(Provider::kOpenAI, "/v1/responses");
  std::string body =
      R"({"model":"gpt-5","input":"hi","context_management":[{"type":"compaction","compact_threshold":1000}]})";
  auto refused = Read(responses, body);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kForbidden);
  EXPECT_NE(refused.error().message.find("'context_management'"), std::string::npos);
  EXPECT_TRUE(Read(responses, body, false)) << "without a budget it is the app's";
  EXPECT_TRUE(Read(responses, R"({"model":"gpt-5","input":"hi","context_management":null})"));
}

// OpenAI's images run dall-e-2 where the body names no model, unless it holds a parameter of the
// GPT image models: then one of those, at up to 12 times the price. The broker names the model it
// checked the grant for and priced.
TEST(JsonCall, TheModelTheBrokerTakesAsTheProvidersDefaultIsNamedUpstream) {
  const NativeEndpoint& images = Endpoint(Provider::kOpenAI, "/v1/images/generations");
  auto none = Read(images, R"({"prompt":"a cat","n":10,"size":"1536x1024","quality":"high"})");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->model, "dall-e-2");
  EXPECT_EQ(none->body, R"({"prompt":"a cat","n":10,"size":"1536x1024","quality":"high","model":"dall-e-2"})");
  auto null = Read(images, R"({"model":null,"prompt":"a cat"})");
  ASSERT_TRUE(null);
  EXPECT_EQ(null->body, R"({"model":"dall-e-2","prompt":"a cat"})");
  std::string named = R"({"model":"gpt-image-1","prompt":"a cat"})";
  EXPECT_EQ(Read(images, named)->body, named);
  std::string moderation = R"({"input":"hi"})";
  EXPECT_EQ(Read(Endpoint(Provider::kOpenAI, "/v1/moderations"), moderation)->body,
            R"({"input":"hi","model":"omni-moderation-latest"})");
}

TEST(JsonCall, UsageIsAskedForInOpenAIStreamsWhateverStreamOptionsSaid) {
  struct Case {
    std::string_view body;
    bool strip;
    std::string_view sent;
  } cases[] = {
      {R"({"model":"m","stream":true})", true,
       R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}})", true,
       R"({"model":"m","stream":true,"stream_options":{"include_usage":true,"x":1}})"},
      {R"({"model":"m","stream":true,"stream_options":{"x":1}})", true,
       R"({"model":"m","stream":true,"stream_options":{"x":1,"include_usage":true}})"},
      {R"({"model":"m","stream_options":null,"stream":true})", true,
       R"({"model":"m","stream_options":{"include_usage":true},"stream":true})"},
      {R"({"model":"m","stream_options":{"include_usage":null},"stream":true})", true,
       R"({"model":"m","stream_options":{"include_usage":true},"stream":true})"},
      {R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})", false,
       R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"model":"m","stream":false,"stream_options":{"include_usage":false}})", false,
       R"({"model":"m","stream":false,"stream_options":{"include_usage":false}})"},
      // A nested stream_options is not the top-level one.
      {R"({"model":"m","metadata":{"stream_options":{"include_usage":false}},"stream":true})", true,
       R"({"model":"m","metadata":{"stream_options":{"include_usage":false}},"stream":true,"stream_options":{"include_usage":true}})"},
      // An escaped name is the member it names: replaced, not added a second time.
      {R"({"model":"m","stream\u005foptions":{"include_usage":false},"stream":true})", true,
       R"({"model":"m","stream\u005foptions":{"include_usage":true},"stream":true})"},
      {R"({"model":"m","stream_options":{"include\u005fusage":false},"stream":true})", true,
       R"({"model":"m","stream_options":{"include_usage":true},"stream":true})"},
      // stream_options that is not an object is replaced whole.
      {R"({"model":"m","stream":true,"stream_options":false})", true,
       R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"model":"m","stream":true,"stream_options":[{"include_usage":true}]})", true,
       R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})"},
      // tools that is not an array, beside an app's stream_options: nothing is bounded in it (these
      // made the splice loop, allocating without end, before it was fixed).
      {R"({"model":"m","tools":"b","stream":true,"stream_options":{"include_usage":false}})", true,
       R"({"model":"m","tools":"b","stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"model":"m","tools":7,"stream":true,"stream_options":{}})", true,
       R"({"model":"m","tools":7,"stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"stream_options":{},"tools":{"a":[]},"model":"m","stream":true})", true,
       R"({"stream_options":{"include_usage":true},"tools":{"a":[]},"model":"m","stream":true})"},
      // Two additions at the root's end: the bound on paid tools and stream_options.
      {R"({"model":"m","stream":true,"web_search_options":{}, "tools":[{"type":"web_search_preview"}] })", true,
       R"({"model":"m","stream":true,"web_search_options":{},"tools":[{"type":"web_search_preview"}],)"
       R"("max_tool_calls":5,"stream_options":{"include_usage":true}})"},
  };
  for (const Case& c : cases) {
    auto call = Read(ChatCompletions(), c.body);
    ASSERT_TRUE(call) << c.body;
    EXPECT_EQ(call->strip_usage_chunk, c.strip) << c.body;
    json::object sent = json::parse(call->body).as_object();
    EXPECT_EQ(sent["service_tier"], "default") << c.body;  // where a budget adds it
    sent.erase("service_tier");
    EXPECT_EQ(sent, json::parse(c.sent)) << c.body << " sent " << call->body;
  }
  // The app's stream_options is changed where include_usage goes, not written again: a number
  // json::parse reads as NaN or infinity stays as the app wrote it, and the body stays JSON.
  for (std::string_view body : {R"({"model":"m","stream":true,"stream_options":{"x":0e999, "y" : 1e999}})",
                                R"({"model":"m","stream":true,"stream_options":{"include_usage":false,"x":-1e999}})"}) {
    auto call = Read(ChatCompletions(), body);
    ASSERT_TRUE(call) << body;
    boost::system::error_code ec;
    json::value sent = json::parse(call->body, ec);
    ASSERT_FALSE(ec) << call->body;
    EXPECT_EQ(sent.at("stream_options").at("include_usage"), true) << call->body;
    EXPECT_NE(call->body.find("e999"), std::string::npos) << call->body;
  }
  // Only chat completions take stream_options.
  auto messages = Read(Messages(), R"({"model":"claude","max_tokens":5,"stream":true})");
  EXPECT_EQ(messages->body, R"({"model":"claude","max_tokens":5,"stream":true})");
}

// A stream started with less than its worst case asks the provider to stop where the reservation
// does, in the member each provider reads, spliced into the app's bytes.
TEST(JsonCall, AnOutputLimitGoesWhereEachProviderReadsIt) {
  const NativeEndpoint& responses = Endpoint(Provider::kOpenAI, "/v1/responses");
  const NativeEndpoint& gemini = Endpoint(Provider::kGoogle, ":streamGenerateContent");
  struct Case {
    const NativeEndpoint* ep;
    std::string_view body, sent;
  } cases[] = {
      {&ChatCompletions(), R"({"model":"m","stream":true})",
       R"({"model":"m","stream":true,"max_completion_tokens":42})"},
      {&ChatCompletions(), R"({"model":"m","max_completion_tokens":null})",
       R"({"model":"m","max_completion_tokens":42})"},
      {&responses, R"({"model":"m","input":"x"})", R"({"model":"m","input":"x","max_output_tokens":42})"},
      {&gemini, R"({"contents":[]})", R"({"contents":[],"generationConfig":{"maxOutputTokens":42}})"},
      {&gemini, R"({"generationConfig":{"temperature":1},"contents":[]})",
       R"({"generationConfig":{"temperature":1,"maxOutputTokens":42},"contents":[]})"},
      {&gemini, R"({"generation_config":{},"contents":[]})",
       R"({"generation_config":{"maxOutputTokens":42},"contents":[]})"},
      {&gemini, R"({"generationConfig":null})", R"({"generationConfig":{"maxOutputTokens":42}})"},
      {&gemini, R"({"generation_config":null})", R"({"generation_config":{"maxOutputTokens":42}})"},
      // A limit the app left null is replaced under the spelling it used, not added under the other.
      {&gemini, R"({"generationConfig":{"max_output_tokens":null}})",
       R"({"generationConfig":{"max_output_tokens":42}})"},
      // Anthropic's calls always carry max_tokens: without one the provider refuses the call.
      {&Messages(), R"({"model":"c","stream":true})", R"({"model":"c","stream":true})"},
  };
  for (const Case& c : cases) EXPECT_EQ(WithOutputLimit(std::string(c.body), *c.ep, 42), c.sent) << c.body;
  // An OpenAI-compatible server (Ollama, vLLM, Groq) reads max_tokens.
  EXPECT_EQ(WithOutputLimit(R"({"model":"m"})", ChatCompletions(), 42, false), R"({"model":"m","max_tokens":42})");
  // Some of them read max_completion_tokens first (vLLM): the app's is lowered too.
  EXPECT_EQ(
      WithOutputLimit(R"({"model":"m","max_completion_tokens":9000,"max_tokens":9000})", ChatCompletions(), 42, false),
      R"({"model":"m","max_completion_tokens":42,"max_tokens":42})");
}

// Ollama reads max_tokens and nothing else: a length given only as max_completion_tokens, which the
// reservation took as the limit, is given as max_tokens too. One given as max_tokens stays as it is.
TEST(JsonCall, ALengthIsGivenToADeclaredServerAsMaxTokens) {
  EXPECT_EQ(WithMaxTokensCopied(R"({"model":"m","max_completion_tokens":1})"),
            R"({"model":"m","max_completion_tokens":1,"max_tokens":1})");
  EXPECT_EQ(WithMaxTokensCopied(R"({"model":"m","max_completion_tokens":null})"),
            R"({"model":"m","max_completion_tokens":null,"max_tokens":null})");
  // A max_tokens of null is no limit to the server: the one the reservation took replaces it.
  EXPECT_EQ(WithMaxTokensCopied(R"({"model":"m","max_tokens":null,"max_completion_tokens":16,"stream":true})"),
            R"({"model":"m","max_tokens":16,"max_completion_tokens":16,"stream":true})");
  EXPECT_EQ(WithMaxTokensCopied(R"({"max_completion_tokens":16,"max_tokens":  null})"),
            R"({"max_completion_tokens":16,"max_tokens":  16})");
  for (std::string_view kept : {R"({"model":"m"})", R"({"model":"m","max_tokens":5})",
                                R"({"max_completion_tokens":1,"model":"m","max_tokens":5})"})
    EXPECT_EQ(WithMaxTokensCopied(std::string(kept)), kept);
}

TEST(JsonCall, BoundsOnPaidToolsAreSplicedIntoTheAppsBytes) {
  auto anthropic = Read(Messages(), R"({"model":"c","max_tokens":10,"tools":[{"type":"web_search_20250305","name":"w"},
      {"name":"lookup","input_schema":{"max_uses":1}},{"type":"web_search_20250305","max_uses":null}]})");
  ASSERT_TRUE(anthropic);
  EXPECT_EQ(json::parse(anthropic->body), json::parse(R"({"model":"c","max_tokens":10,"tools":[
      {"type":"web_search_20250305","name":"w","max_uses":5},{"name":"lookup","input_schema":{"max_uses":1}},
      {"type":"web_search_20250305","max_uses":5}]})"));
  auto openai = Read(Endpoint(Provider::kOpenAI, "/v1/responses"),
                     R"({"model":"o","tools":[{"type":"web_search"}],"max_tool_calls":null,"stream":true})");
  ASSERT_TRUE(openai);
  EXPECT_EQ(json::parse(openai->body),
            json::parse(R"({"model":"o","tools":[{"type":"web_search"}],"max_tool_calls":5,"stream":true,)"
                        R"("service_tier":"default"})"));
  auto unbudgeted = Read(Messages(), R"({"model":"c","max_tokens":1,"tools":[{"type":"web_search_20250305"}]})", false);
  EXPECT_EQ(unbudgeted->body, R"({"model":"c","max_tokens":1,"tools":[{"type":"web_search_20250305"}]})");
}

}  // namespace
}  // namespace ap::proxy
