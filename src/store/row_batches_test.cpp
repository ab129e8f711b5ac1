#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "store/row_batches.hpp"

namespace ap::store {
namespace {

TEST(RowBatches, TheBufferOfAWrittenBatchTakesTheNextRows) {
  RowBatches<std::string, 1000> rows;
  for (int i = 0; i < 1000; ++i) rows.Waiting().push_back("row " + std::to_string(i));
  std::vector<std::string> batch = rows.Take();
  EXPECT_EQ(batch.size(), 1000u);
  EXPECT_TRUE(rows.Waiting().empty());
  size_t capacity = batch.capacity();
  const std::string* buffer = batch.data();
  batch.clear();
  rows.GiveBack(std::move(batch));

  rows.Waiting().push_back("next");
  std::vector<std::string> next = rows.Take();  // the rows queued meanwhile, in a buffer of their own
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0], "next");
  EXPECT_EQ(rows.Waiting().capacity(), capacity);  // the given-back buffer now takes the rows
  EXPECT_EQ(rows.Waiting().data(), buffer);
}

TEST(RowBatches, ABacklogBufferOrOneStillHoldingRowsIsNotKept) {
  using Batches = RowBatches<int, 1000>;
  EXPECT_EQ(Batches::kKeptCapacity, 2048u);
  Batches rows;
  std::vector<int> backlog(Batches::kKeptCapacity + 1);
  backlog.clear();
  rows.GiveBack(std::move(backlog));
  std::vector<int> holding{1, 2, 3};
  rows.GiveBack(std::move(holding));
  rows.Take();
  EXPECT_EQ(rows.Waiting().capacity(), 0u);
}
}  // namespace
}  // namespace ap::store
