#pragma once
// Housekeeping: the "housekeeping" thread, which runs periodic tasks of the member's parts
// every interval (request timeouts of Waiters, LeaseRenewals' retries, publishing the member,
// ClusterOps' pending leader removals, the leader's lease expiry). Each task belongs to the part
// that registered it and reads the time from that part's Clock; housekeeping only calls them,
// in the order they were added. Tasks are added before start().

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace outpost::server {

class Housekeeping {
 public:
  explicit Housekeeping(std::chrono::milliseconds interval) : interval_(interval) {}
  ~Housekeeping() { stop(); }
  Housekeeping(const Housekeeping&) = delete;
  Housekeeping& operator=(const Housekeeping&) = delete;

  void add(std::string name, std::function<void()> task);
  void start();
  // Returns once no task runs any more.
  void stop();
  // Runs every task once, now, on the calling thread (tests).
  void run_once();

 private:
  const std::chrono::milliseconds interval_;
  std::vector<std::pair<std::string, std::function<void()>>> tasks_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace outpost::server
