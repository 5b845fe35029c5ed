#include "parallel/mpi/collective_thread.h"

#include <pthread.h>

namespace trident::mpi {

bool Completion::test() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_ && error_) std::rethrow_exception(error_);
  return done_;
}

void Completion::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [this] { return done_; });
  if (error_) std::rethrow_exception(error_);
}

void Completion::set(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
    error_ = std::move(error);
  }
  done_cv_.notify_all();
}

CollectiveThread::CollectiveThread(std::string name) : name_(std::move(name)) {}

CollectiveThread::~CollectiveThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<Completion> CollectiveThread::submit(std::function<void()> task) {
  auto done = std::make_shared<Completion>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!thread_.joinable()) {
      thread_ = std::thread([this] { run(); });
      // Linux thread names hold 15 characters.
      pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
    }
    queue_.emplace_back(std::move(task), done);
  }
  work_cv_.notify_one();
  return done;
}

void CollectiveThread::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void CollectiveThread::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    auto [task, done] = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    std::exception_ptr error;
    try {
      task();
    } catch (...) {
      error = std::current_exception();
    }
    done->set(error);
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace trident::mpi
