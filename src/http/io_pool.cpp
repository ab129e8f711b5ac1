#include "http/io_pool.hpp"

#include <string>
#include <thread>

#include "http/thread_priority.hpp"

namespace ap::http {

IoPool::IoPool(size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); ++i) {
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.push_back(boost::asio::make_work_guard(*contexts_.back()));
  }
}

boost::asio::io_context& IoPool::Next() { return *contexts_[next_.fetch_add(1) % contexts_.size()]; }

void IoPool::Run() {
  std::vector<std::thread> threads;
  for (size_t i = 1; i < contexts_.size(); ++i)
    threads.emplace_back([this, i] {
      NameThisThread("ap-io-" + std::to_string(i));  // the first keeps the process's name
      contexts_[i]->run();
    });
  contexts_.front()->run();
  for (auto& t : threads) t.join();
}

void IoPool::Stop() {
  for (auto& guard : guards_) guard.reset();
  for (auto& context : contexts_) context->stop();
}

}  // namespace ap::http
