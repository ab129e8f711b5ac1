#include "proxy/endpoints.hpp"

#include <gtest/gtest.h>

namespace ap::proxy {
namespace {

TEST(ForwardedQueryTest, PassesWhatTheSdksSendAndDropsTheKey) {
  EXPECT_EQ(ForwardedQuery("/v1beta/models/m:generateContent").value(), "");
  EXPECT_EQ(ForwardedQuery("/x?key=tok").value(), "");
  EXPECT_EQ(ForwardedQuery("/x?alt=sse&key=tok").value(), "?alt=sse");
  EXPECT_EQ(ForwardedQuery("/x?k%65y=tok&%61lt=sse").value(), "?alt=sse");  // the provider decodes names too
  EXPECT_EQ(ForwardedQuery("/v1/models?pageToken=a%2Fb+c&pageSize=5").value(), "?pageSize=5&pageToken=a%2Fb%20c");
  EXPECT_EQ(ForwardedQuery("/v1/messages?beta=true").value(), "?beta=true");
}

// A second `alt` the broker did not read could turn the SSE stream it meters into a JSON array it
// cannot read; `fields` and `callback` would drop or wrap the usage figures.
TEST(ForwardedQueryTest, RefusesWhatTheProviderCouldReadDifferently) {
  for (std::string_view target : {"/x?alt=sse&alt=json", "/x?alt=sse&%61lt=json", "/x?alt=sse&$alt=json",
                                  "/x?alt=sse&%24alt=json", "/x?key=a&key=b", "/x?alt=sse&fields=candidates",
                                  "/x?callback=f", "/x?$ct=application/x-protobuf", "/x?alt=media", "/x?$key=k",
                                  "/x?alt=sse&alt=sse"})
    EXPECT_FALSE(ForwardedQuery(target)) << target;
}

}  // namespace
}  // namespace ap::proxy
