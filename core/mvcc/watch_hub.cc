#include "core/mvcc/watch_hub.h"

#include <pthread.h>

#include <chrono>

namespace outpost::mvcc {
namespace {
// Revisions read from disk per catch-up batch (etcd: watchBatchMaxRevs).
constexpr int64_t kMaxRevsPerBatch = 1000;
}  // namespace

WatchHub::WatchHub(const Store& store) : store_(store) {}
WatchHub::~WatchHub() { stop(); }

void WatchHub::start() {
  thread_ = std::thread([this] { sync_loop(); });
}

void WatchHub::stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t WatchHub::watchers() const {
  std::lock_guard l(mu_);
  return watchers_.size();
}

bool WatchHub::matches(const Watcher& w, const mvccpb::Event& ev) const {
  if (ev.type() == mvccpb::Event::PUT && w.spec.no_put) return false;
  if (ev.type() == mvccpb::Event::DELETE && w.spec.no_delete) return false;
  const std::string& k = ev.kv().key();
  const WatchSpec& s = w.spec;
  if (s.end.empty()) return k == s.key;
  if (k < s.key) return false;
  if (s.end.size() == 1 && s.end[0] == '\0') return true;
  return k < s.end;
}

void WatchHub::attach_prev(const Watcher& w, WatchBatch* b) const {
  if (!w.spec.prev_kv) return;
  for (auto& ev : b->events) {
    if (ev.type() == mvccpb::Event::PUT && ev.kv().version() == 1) continue;  // a creation
    mvccpb::KeyValue prev;
    if (store_.get_locked(ev.kv().key(), ev.kv().mod_revision() - 1, &prev))
      *ev.mutable_prev_kv() = std::move(prev);
  }
}

int64_t WatchHub::add(WatchSink* sink, int64_t id, const WatchSpec& spec) {
  int64_t created_rev = 0;
  store_.with_history([&](int64_t current, int64_t, const Store::HistoryReader&) {
    std::lock_guard l(mu_);
    created_rev = current;
    Watcher w{sink, id, spec, spec.start_rev == 0 ? current + 1 : spec.start_rev, false};
    // A watcher starting after the current revision has nothing to catch up on.
    w.synced = w.next_rev > current;
    watchers_[{sink, id}] = std::move(w);
    if (!watchers_[{sink, id}].synced) pending_ = true;
  });
  cv_.notify_all();
  return created_rev;
}

bool WatchHub::remove(WatchSink* sink, int64_t id) {
  std::lock_guard l(mu_);
  return watchers_.erase({sink, id}) > 0;
}

void WatchHub::remove_all(WatchSink* sink) {
  std::lock_guard l(mu_);
  for (auto it = watchers_.lower_bound({sink, INT64_MIN});
       it != watchers_.end() && it->first.first == sink;)
    it = watchers_.erase(it);
}

void WatchHub::wake() {
  {
    std::lock_guard l(mu_);
    pending_ = true;
  }
  cv_.notify_all();
}

void WatchHub::resync_all() {
  {
    std::lock_guard l(mu_);
    for (auto& [_, w] : watchers_) w.synced = false;
    pending_ = true;
  }
  cv_.notify_all();
}

void WatchHub::notify(int64_t rev, const std::vector<mvccpb::KeyValue>& changes) {
  std::vector<mvccpb::Event> events;
  events.reserve(changes.size());
  for (const auto& kv : changes) {
    mvccpb::Event ev;
    // A delete's record holds only the key (and its mod revision).
    ev.set_type(kv.version() == 0 ? mvccpb::Event::DELETE : mvccpb::Event::PUT);
    *ev.mutable_kv() = kv;
    events.push_back(std::move(ev));
  }
  bool fell_behind = false;
  {
    std::lock_guard l(mu_);
    for (auto& [_, w] : watchers_) {
      if (!w.synced || w.next_rev > rev) continue;
      WatchBatch b;
      b.watch_id = w.id;
      b.revision = rev;
      for (const auto& ev : events)
        if (matches(w, ev)) b.events.push_back(ev);
      attach_prev(w, &b);
      if (!b.events.empty() && !w.sink->offer(std::move(b))) {
        // A slow client: read this revision again from disk when it has room.
        w.synced = false;
        fell_behind = true;
        continue;
      }
      w.next_rev = rev + 1;
    }
    if (fell_behind) pending_ = true;
  }
  if (fell_behind) cv_.notify_all();
}

void WatchHub::sync_loop() {
  pthread_setname_np(pthread_self(), "watch-sync");
  std::unique_lock l(mu_);
  while (!stopping_) {
    cv_.wait_for(l, std::chrono::milliseconds(100), [&] { return stopping_ || pending_; });
    if (stopping_) return;
    pending_ = false;
    l.unlock();
    sync_unsynced();
    l.lock();
  }
}

void WatchHub::sync_unsynced() {
  store_.with_history([&](int64_t current, int64_t compacted, const Store::HistoryReader& read) {
    std::lock_guard l(mu_);
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      Watcher& w = it->second;
      if (w.synced) {
        ++it;
        continue;
      }
      if (compacted > 0 && w.next_rev < compacted) {
        WatchBatch b;
        b.watch_id = w.id;
        b.revision = current;
        b.compact_revision = compacted;
        if (w.sink->offer(std::move(b))) {
          it = watchers_.erase(it);
        } else {
          ++it;  // retried on the next round (or when the sink wakes the hub)
        }
        continue;
      }
      bool refused = false;
      while (w.next_rev <= current) {
        const int64_t to = std::min(current, w.next_rev + kMaxRevsPerBatch - 1);
        WatchBatch b;
        b.watch_id = w.id;
        b.revision = current;
        Status s = read(w.next_rev, to, [&](const mvccpb::Event& ev) {
          if (matches(w, ev)) b.events.push_back(ev);
        });
        if (!s) break;
        attach_prev(w, &b);
        if (!b.events.empty() && !w.sink->offer(std::move(b))) {
          refused = true;
          break;
        }
        w.next_rev = to + 1;
      }
      if (!refused && w.next_rev > current) w.synced = true;
      ++it;
    }
  });
}

}  // namespace outpost::mvcc
