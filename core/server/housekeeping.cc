#include "core/server/housekeeping.h"

#include <pthread.h>

namespace outpost::server {

void Housekeeping::add(std::string name, std::function<void()> task) {
  tasks_.emplace_back(std::move(name), std::move(task));
}

void Housekeeping::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "housekeeping");
    std::unique_lock l(mu_);
    while (!stopping_) {
      cv_.wait_for(l, interval_);
      if (stopping_) return;
      l.unlock();
      run_once();
      l.lock();
    }
  });
}

void Housekeeping::stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Housekeeping::run_once() {
  for (auto& [_, task] : tasks_) task();
}

}  // namespace outpost::server
