// The communication thread of one MPI communicator: it runs the group's non-blocking collectives
// (all_reduce_async, reduce_scatter_async, all_gather_async) one after another, in issue order, as
// MPI's own blocking calls — so they progress at MPI's full speed on their own thread while the
// caller's thread computes (data parallelism's bucket reductions and ZeRO-3 gathers overlap the
// backward and the forward this way). Open MPI runs with MPI_THREAD_MULTIPLE for it.
//
// Issue order is the group's collective order: every member queues the same collectives in the
// same order, and a blocking collective of the group called on another thread first drains the
// queue (MpiCommunicator does), so the order MPI sees is the program's.
//
// A task's timeout is the MPI watchdog's business (the task's MPI call is watched like any blocking
// call); waiting for a Completion therefore needs none.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace trident::mpi {

// The end of one queued task: wait() blocks until it ran and rethrows what it threw.
class Completion {
 public:
  bool test();  // true once the task ran (rethrows its exception)
  void wait();  // blocks until the task ran (rethrows its exception)

 private:
  friend class CollectiveThread;
  void set(std::exception_ptr error);

  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::exception_ptr error_;
};

class CollectiveThread {
 public:
  // `name` names the thread for debuggers ("comm:dp").
  explicit CollectiveThread(std::string name);
  // Runs what is queued, then joins.
  ~CollectiveThread();
  CollectiveThread(const CollectiveThread&) = delete;
  CollectiveThread& operator=(const CollectiveThread&) = delete;

  // Queues `task` to run after every task queued before it. The thread starts on first use.
  std::shared_ptr<Completion> submit(std::function<void()> task);
  // Blocks until every task queued so far has run.
  void drain();

 private:
  void run();

  std::string name_;
  std::mutex mutex_;
  std::condition_variable work_cv_, idle_cv_;
  std::deque<std::pair<std::function<void()>, std::shared_ptr<Completion>>> queue_;
  bool busy_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace trident::mpi
