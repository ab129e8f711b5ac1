#pragma once
// Rows that calls queue and a writer takes in batches, in two buffers that take turns: the buffer a
// batch was taken in comes back for the rows that follow, once the writer is done with its rows. Without that, the
// queue started empty after every batch and regrew to the batch's size, moving each row again at every doubling and
// touching fresh pages (a batch of activity rows is some 700 KB, which the allocator maps anew), on the I/O thread and
// under its owner's lock. Batches are written once kBatch rows wait; rows keep coming until the writer takes them, so a
// buffer is kept up to twice that (rounded up to a power of two, as a vector grows). A buffer that
// grew beyond it (a backlog) goes back to the allocator once written.
// Thread-safety: none; its owner's mutex guards every call.

#include <bit>
#include <cstddef>
#include <utility>
#include <vector>

namespace ap::store {

template <class Row, size_t kBatch>
class RowBatches {
 public:
  static constexpr size_t kKeptCapacity = std::bit_ceil(2 * kBatch);

  std::vector<Row>& Waiting() { return waiting_; }

  // The waiting rows, which then start again in the spare buffer.
  std::vector<Row> Take() {
    std::vector<Row> batch = std::exchange(spare_, {});
    batch.swap(waiting_);
    return batch;
  }
  // Gives back the buffer of a batch taken, written or moved on; empty it first (outside the lock:
  // what its rows hold is freed there).
  void GiveBack(std::vector<Row> written) {
    if (written.empty() && written.capacity() <= kKeptCapacity && written.capacity() > spare_.capacity())
      spare_ = std::move(written);
  }

 private:
  std::vector<Row> waiting_;
  std::vector<Row> spare_;
};

}  // namespace ap::store
