#include "proxy/key_scrubber.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <thread>

namespace ap::proxy {
namespace {

constexpr std::string_view kOpenAI = "sk-proj-Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789";
constexpr std::string_view kAnthropic = "sk-ant-api03-ZyXwVuTsRqPoNmLkJiHgFeDcBa9876";
constexpr std::string_view kGoogle = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY";

KeySet Held() { return KeySet({std::string(kOpenAI), std::string(kAnthropic), std::string(kGoogle)}); }

std::string Scrubbed(const KeySet& keys, std::string text) {
  keys.Scrub(text);
  return text;
}

std::string Part(std::string_view key, size_t at, size_t n) { return std::string(key.substr(at, n)); }

TEST(KeyScrubber, AWholeKeyIsReplacedAfterItsPublicPrefix) {
  KeySet keys = Held();
  std::string text = "Incorrect API key provided: " + std::string(kOpenAI) + ".";
  EXPECT_TRUE(keys.Scrub(text));
  EXPECT_EQ(text, "Incorrect API key provided: sk-proj-[redacted].");
  EXPECT_EQ(Scrubbed(keys, std::string(kGoogle)), "AIza[redacted]");
  EXPECT_EQ(Scrubbed(keys, std::string(kAnthropic)), "sk-ant-api03-[redacted]");
}

// The prefixes are printed in every provider's documentation and every app's setup instructions:
// an answer naming one quotes no key, and is neither changed nor counted against its grant.
TEST(KeyScrubber, APublicPrefixIsNotKeyMaterial) {
  KeySet keys = Held();
  for (std::string text : {"export OPENAI_API_KEY=sk-proj-...", "ANTHROPIC_API_KEY=sk-ant-api03-xxxx",
                           "keys look like sk-ant-api03- then 95 characters", "key=AIzaSy..."})
    EXPECT_FALSE(keys.Finds(text)) << text;
  EXPECT_EQ(PublicPrefixLength("sk-proj-abc"), 8u);
  EXPECT_EQ(PublicPrefixLength("sk-svcacct-abc"), 11u);
  EXPECT_EQ(PublicPrefixLength("sk-ant-admin01-abc"), 15u);
  EXPECT_EQ(PublicPrefixLength("sk-ant-Xq9z4Lm-abc"), 7u) << "a dash in the secret is not the end of a kind";
  EXPECT_EQ(PublicPrefixLength("sk-abc"), 3u);
  EXPECT_EQ(PublicPrefixLength("AIzaSyabc"), 4u);
  EXPECT_EQ(PublicPrefixLength("gsk_abc"), 0u);
  // A key whose secret part is too short to tell from text is not held, as a short key is not.
  EXPECT_EQ(KeySet({"sk-proj-1234567"}).Dropped(), 1u);
  EXPECT_EQ(KeySet({"sk-proj-12345678"}).Dropped(), 0u);
}

TEST(KeyScrubber, EightCharactersAtTheStartMiddleOrEndOfAKeysSecretAreReplaced) {
  KeySet keys = Held();
  for (size_t at : {size_t{13}, size_t{17}, kAnthropic.size() - 8}) {
    std::string text = "key " + Part(kAnthropic, at, 8) + " here";
    EXPECT_EQ(Scrubbed(keys, text), "key [redacted] here") << at;
  }
  // Seven of the secret after the prefix are left, as seven anywhere are.
  EXPECT_EQ(Scrubbed(keys, Part(kOpenAI, 0, 15)), Part(kOpenAI, 0, 15));
  EXPECT_EQ(Scrubbed(keys, Part(kOpenAI, 3, 13)), "proj-[redacted]");
  // At the very edges of the text too.
  EXPECT_EQ(Scrubbed(keys, Part(kOpenAI, 8, 8)), "[redacted]");
  EXPECT_EQ(Scrubbed(keys, "x" + Part(kOpenAI, 30, 12)), "x[redacted]");
}

TEST(KeyScrubber, SevenCharactersAreLeftAlone) {
  KeySet keys = Held();
  for (size_t at = 0; at + 7 <= kOpenAI.size(); ++at) {
    std::string text = "[" + Part(kOpenAI, at, 7) + "]";
    std::string before = text;
    EXPECT_FALSE(keys.Scrub(text)) << at;
    EXPECT_EQ(text, before);
  }
  // The masked form a provider echoes is no longer a run of 8.
  std::string masked = "Incorrect API key provided: sk-proj-****************************6789.";
  EXPECT_EQ(Scrubbed(keys, masked), masked);
  std::string hint = "key ending in 6789 (sk-...6789)";
  EXPECT_EQ(Scrubbed(keys, hint), hint);
}

TEST(KeyScrubber, OverlappingAndAdjacentRunsBecomeOneMarker) {
  KeySet keys = Held();
  // A run of one key that goes on as a run of another, the two overlapping in the text.
  KeySet overlapping({"first-key-ends-with-shared-part", "shared-part-starts-second-key"});
  EXPECT_EQ(Scrubbed(overlapping, "a first-key-ends-with-shared-part-starts-second-key b"), "a [redacted] b");
  // A key's secret twice in a row, and two different keys' side by side.
  std::string openai_secret = Part(kOpenAI, 8, kOpenAI.size() - 8);
  EXPECT_EQ(Scrubbed(keys, openai_secret + openai_secret), "[redacted]");
  EXPECT_EQ(Scrubbed(keys, openai_secret + Part(kGoogle, 4, 20) + "!"), "[redacted]!");
  // Separate runs stay separate.
  EXPECT_EQ(Scrubbed(keys, Part(kOpenAI, 8, 9) + " and " + Part(kGoogle, 5, 9)), "[redacted] and [redacted]");
}

TEST(KeyScrubber, KeysThatShareCharactersAreEachFoundWhole) {
  // Two keys of one provider share their prefix; a run through both is still all key material.
  std::string a = "sk-proj-SharedPrefix-AAAAAAAA1111";
  std::string b = "sk-proj-SharedPrefix-BBBBBBBB2222";
  KeySet keys({a, b});
  EXPECT_EQ(Scrubbed(keys, "1 " + a + " 2 " + b), "1 sk-proj-[redacted] 2 sk-proj-[redacted]");
  EXPECT_EQ(Scrubbed(keys, "sk-proj-SharedPrefix-"), "sk-proj-[redacted]");
}

TEST(KeyScrubber, ARunAcrossTheBoundaryOfTwoKeys) {
  KeySet keys = Held();
  // The end of one key and the start of another: each part long enough is replaced, and the two
  // touch, so one marker stands for both.
  std::string text = "<" + Part(kOpenAI, kOpenAI.size() - 9, 9) + Part(kGoogle, 4, 9) + ">";
  EXPECT_EQ(Scrubbed(keys, text), "<[redacted]>");
  // Four characters of each make 8 in a row that belong to no key: left alone.
  text = "<" + Part(kOpenAI, kOpenAI.size() - 4, 4) + Part(kGoogle, 4, 4) + ">";
  EXPECT_EQ(Scrubbed(keys, text), text);
  // Seven of one and nine of the other: only the nine go.
  text = "<" + Part(kOpenAI, kOpenAI.size() - 7, 7) + Part(kGoogle, 4, 9) + ">";
  EXPECT_EQ(Scrubbed(keys, text), "<" + Part(kOpenAI, kOpenAI.size() - 7, 7) + "[redacted]>");
}

// What the scan must find, the slow way: every position where 8 bytes in a row are 8 bytes in a
// row of a key's secret, merged into runs where they overlap or touch.
std::string ScrubbedTheSlowWay(const std::vector<std::string>& keys, const std::string& text) {
  std::set<std::string> windows;
  for (const auto& key : keys)
    for (size_t i = PublicPrefixLength(key); i + 8 <= key.size(); ++i) windows.insert(key.substr(i, 8));
  std::string out;
  size_t copied = 0, run_begin = 0, run_end = 0;
  bool in_run = false;
  for (size_t i = 0; i + 8 <= text.size(); ++i) {
    if (!windows.count(text.substr(i, 8))) continue;
    if (in_run && i <= run_end) {
      run_end = i + 8;
      continue;
    }
    if (in_run) out += text.substr(copied, run_begin - copied) + "[redacted]", copied = run_end;
    in_run = true, run_begin = i, run_end = i + 8;
  }
  if (in_run) out += text.substr(copied, run_begin - copied) + "[redacted]", copied = run_end;
  return out + text.substr(copied);
}

// The scan looks at every fifth position first: a run must be found wherever it starts, whatever
// its length, at the edges of the text too.
TEST(KeyScrubber, ARunIsFoundAtEveryOffsetAndLength) {
  KeySet keys = Held();
  for (size_t lead = 0; lead < 9; ++lead)
    for (size_t length = 7; length <= 13; ++length)
      for (size_t at : {size_t{8}, size_t{13}, kOpenAI.size() - length}) {
        std::string text = std::string(lead, '.') + Part(kOpenAI, at, length) + std::string(lead % 3, ',');
        std::string want = length < 8 ? text : std::string(lead, '.') + "[redacted]" + std::string(lead % 3, ',');
        EXPECT_EQ(Scrubbed(keys, text), want) << "lead " << lead << ", length " << length << ", at " << at;
      }
}

TEST(KeyScrubber, FindsWhatAScanOfEveryPositionFinds) {
  std::vector<std::string> held = {std::string(kOpenAI), std::string(kAnthropic), std::string(kGoogle)};
  KeySet keys(held);
  std::mt19937 random(20261201);
  const std::string noise = "sk-proj-ant api03 AIza xyz0123456789 \"{}:,";
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    while (text.size() < 120) {
      if (random() % 3 == 0) {  // a piece of a key, often shorter than a run
        const std::string& key = held[random() % held.size()];
        size_t length = 1 + random() % 14, at = random() % (key.size() - length + 1);
        text += key.substr(at, length);
      } else {
        text += noise[random() % noise.size()];
      }
    }
    EXPECT_EQ(Scrubbed(keys, text), ScrubbedTheSlowWay(held, text)) << text;
    EXPECT_EQ(keys.Finds(text), ScrubbedTheSlowWay(held, text) != text) << text;
    std::string appended;
    keys.AppendScrubbed(text, appended);
    EXPECT_EQ(appended, ScrubbedTheSlowWay(held, text)) << text;
  }
}

TEST(KeyScrubber, AnEmptySetChangesNothing) {
  KeySet none;
  std::string text = std::string("anything at all ") + std::string(kOpenAI);
  EXPECT_FALSE(none.Scrub(text));
  EXPECT_EQ(text, std::string("anything at all ") + std::string(kOpenAI));
  KeySet blank({"", ""});
  EXPECT_TRUE(blank.Empty());
  EXPECT_EQ(blank.Dropped(), 0u);
}

TEST(KeyScrubber, KeysTooShortToTellFromTextAreNotHeld) {
  KeySet keys({"short", std::string(kGoogle)});
  EXPECT_EQ(keys.Dropped(), 1u);
  EXPECT_EQ(Scrubbed(keys, "a short answer"), "a short answer");
  EXPECT_EQ(Scrubbed(keys, std::string(kGoogle)), "AIza[redacted]");
}

TEST(KeyScrubber, TextShorterThanARunIsUntouched) {
  KeySet keys = Held();
  for (std::string text : {"", "s", "sk-proj"}) EXPECT_FALSE(keys.Scrub(text));
}

TEST(KeyScrubber, AHugeTextIsScannedWhole) {
  KeySet keys = Held();
  std::string filler(4 << 20, 'x');
  std::string text = filler + std::string(kAnthropic) + filler + Part(kOpenAI, 20, 8);
  EXPECT_TRUE(keys.Scrub(text));
  EXPECT_EQ(text, filler + "sk-ant-api03-[redacted]" + filler + "[redacted]");
  // A text made of nothing but key material, every window a hit, is one marker.
  std::string keys_only;
  for (int i = 0; i < 20000; ++i) keys_only += kOpenAI.substr(8);
  EXPECT_EQ(Scrubbed(keys, keys_only), "[redacted]");
}

TEST(KeyScrubber, AppendScrubbedLeavesCleanTextAsItIs) {
  KeySet keys = Held();
  std::string out = "head:";
  EXPECT_FALSE(keys.AppendScrubbed("data: {\"x\":1}\n\n", out));
  EXPECT_EQ(out, "head:data: {\"x\":1}\n\n");
  EXPECT_TRUE(keys.AppendScrubbed("data: " + std::string(kGoogle) + "\n\n", out));
  EXPECT_EQ(out, "head:data: {\"x\":1}\n\ndata: AIza[redacted]\n\n");
}

TEST(KeyScrubber, AnAnswerIsScrubbedOfTheKeyItsCallSpentOnly) {
  KeyScrubber scrubber;
  EXPECT_EQ(scrubber.Update({std::string(kOpenAI), std::string(kGoogle), "tiny"}), 1u);
  // Another owner's key passes: redacting it would tell the app that its guess was right.
  std::string text = "a=" + std::string(kOpenAI) + " b=" + std::string(kGoogle);
  EXPECT_TRUE(scrubber.For(kOpenAI)->Scrub(text));
  EXPECT_EQ(text, "a=sk-proj-[redacted] b=" + std::string(kGoogle));
  std::string none = "a=" + std::string(kOpenAI);
  EXPECT_FALSE(scrubber.For("")->Scrub(none)) << "a keyless call has no key to leak";
  std::string fresh = "k=" + std::string(kAnthropic);
  EXPECT_TRUE(scrubber.For(kAnthropic)->Scrub(fresh)) << "a key not yet held is still scrubbed";
}

// A thread keeps the sets it took until an Update changes them, and a scrubber's sets are its own.
TEST(KeyScrubber, AThreadTakesTheSetsAgainOnceAnUpdateChangedThem) {
  KeyScrubber scrubber;
  scrubber.Update({std::string(kOpenAI)});
  std::shared_ptr<const KeySet> first = scrubber.For(kOpenAI);
  EXPECT_EQ(scrubber.For(kOpenAI), first) << "the set held, not one built for the call";
  scrubber.Update({std::string(kGoogle)});
  EXPECT_NE(scrubber.For(kOpenAI), scrubber.For(kOpenAI)) << "no longer held: one built for each call";
  EXPECT_EQ(scrubber.For(kGoogle), scrubber.For(kGoogle));

  KeyScrubber other;
  other.Update({std::string(kOpenAI)});
  EXPECT_NE(other.For(kOpenAI), first);
  EXPECT_EQ(other.For(kOpenAI), other.For(kOpenAI));
  EXPECT_EQ(scrubber.For(kGoogle), scrubber.For(kGoogle));
  EXPECT_NE(scrubber.For(kOpenAI), scrubber.For(kOpenAI));
}

TEST(KeyScrubber, UpdateSwapsTheSetsWhileReadersScrub) {
  KeyScrubber scrubber;
  scrubber.Update({std::string(kOpenAI)});
  std::shared_ptr<const KeySet> held = scrubber.For(kOpenAI);
  scrubber.Update({std::string(kGoogle)});
  std::string again = "k=" + std::string(kOpenAI);
  EXPECT_TRUE(held->Scrub(again)) << "a relay keeps the set it started with";

  std::atomic<bool> stop = false;
  std::atomic<int> missed = 0;
  std::thread reader([&] {
    while (!stop) {
      std::string t = "k=" + std::string(kGoogle);
      if (!scrubber.For(kGoogle)->Scrub(t)) ++missed;
    }
  });
  for (int i = 0; i < 2000; ++i) scrubber.Update({std::string(kGoogle), std::string(kOpenAI)});
  stop = true;
  reader.join();
  EXPECT_EQ(missed, 0);
}

}  // namespace
}  // namespace ap::proxy
