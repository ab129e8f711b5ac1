#include "http/fields.hpp"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "http/message.hpp"

namespace ap::http {
namespace {

Request WithFields() {
  Request req(bhttp::verb::post, "/", 11);
  req.insert("Content-Type", "application/json");
  req.insert("X-Request-Id", "first");
  req.insert("x-request-id", "second");
  req.insert("Anthropic-Version", "2023-06-01");
  req.insert(bhttp::field::content_type, "text/plain");
  return req;
}

TEST(FieldName, NamesAFieldInAnyCaseWhetherBeastKnowsItOrNot) {
  Request req = WithFields();
  FieldName content_type("content-type"), version("anthropic-version"), missing("openai-beta");
  int content_types = 0, versions = 0, missings = 0;
  for (const auto& field : req) {
    content_types += content_type.Names(field);
    versions += version.Names(field);
    missings += missing.Names(field);
  }
  EXPECT_EQ(content_types, 2);
  EXPECT_EQ(versions, 1);
  EXPECT_EQ(missings, 0);
  EXPECT_EQ(version.Text(), "anthropic-version");
}

TEST(FieldName, AnUnknownNameIsNotAPrefixOrAnotherName) {
  Request req(bhttp::verb::get, "/", 11);
  req.insert("x-request", "a");
  req.insert("x-request-idx", "b");
  FieldName id("x-request-id");
  for (const auto& field : req) EXPECT_FALSE(id.Names(field)) << field.name_string();
}

TEST(FirstValue, IsTheFirstOfItsNameAsBeastsFindGivesIt) {
  Request req = WithFields();
  EXPECT_EQ(FirstValue(req, bhttp::field::content_type), "application/json");
  EXPECT_EQ(FirstValue(req, bhttp::field::content_type), req.find(bhttp::field::content_type)->value());
  EXPECT_EQ(FirstValue(req, bhttp::field::accept), std::nullopt);
  req.insert(bhttp::field::accept, "");
  EXPECT_EQ(FirstValue(req, bhttp::field::accept), "") << "present but empty is not absent";
}

TEST(ForFirstOfEach, GivesTheFirstOfEachNameOnceInTheOrderTheFieldsCame) {
  static const FieldName kNames[] = {FieldName("x-request-id"), FieldName("content-type"), FieldName("accept")};
  std::vector<std::pair<std::string, std::string>> got;
  ForFirstOfEach(WithFields(), kNames,
                 [&](const FieldName& name, std::string_view value) { got.emplace_back(name.Text(), value); });
  std::vector<std::pair<std::string, std::string>> want = {{"content-type", "application/json"},
                                                           {"x-request-id", "first"}};
  EXPECT_EQ(got, want);
}

TEST(ForEachNamed, GivesEveryFieldOfTheNamesInOrderAndSaysWhichIsTheFirstOfItsName) {
  static const FieldName kNames[] = {FieldName("x-request-id"), FieldName("content-type")};
  std::vector<std::tuple<size_t, bool, std::string>> got;
  ForEachNamed(WithFields(), kNames,
               [&](size_t i, bool first, std::string_view value) { got.emplace_back(i, first, value); });
  // Beast holds the fields of one name together, in the order they were added.
  std::vector<std::tuple<size_t, bool, std::string>> want = {
      {1, true, "application/json"}, {1, false, "text/plain"}, {0, true, "first"}, {0, false, "second"}};
  EXPECT_EQ(got, want);
}

TEST(Has, TellsWhetherAFieldIsThereInAnyCase) {
  Request req = WithFields();
  EXPECT_TRUE(Has(req, FieldName("X-REQUEST-ID")));
  EXPECT_TRUE(Has(req, FieldName("content-type")));
  EXPECT_FALSE(Has(req, FieldName("request-id")));
}

}  // namespace
}  // namespace ap::http
