#pragma once
// WatchHub: every watcher of a member, fed from the store (DESIGN.md, core/mvcc).
//
// A watcher is synced when it has been given every event up to the store's current revision:
// the store's commit hook (notify(), under the store's write lock) hands it each new revision's
// matching events at once. A watcher that starts in the past, or whose sink refused a batch
// (a slow client: its queue is full), is unsynced: the hub's own thread catches it up by reading
// history from disk, under the store's read lock, so no commit can slip between the last event
// read and the moment it becomes synced again: nothing is lost or repeated. A watcher whose
// next revision was compacted away is cancelled with the compact revision, as etcd does.
// The apply path never waits for a client: notify() only enqueues.
//
// Lock order: the store's lock, then the hub's.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/mvcc/store.h"

namespace outpost::mvcc {

// What a watcher's events go to (a client stream).
struct WatchBatch {
  int64_t watch_id = 0;
  int64_t revision = 0;          // header revision
  int64_t compact_revision = 0;  // set when the watcher is cancelled by compaction
  std::vector<mvccpb::Event> events;
};

class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Takes a batch; false when the sink cannot take more now (the watcher falls back to catching
  // up from disk). Called with the hub's (and maybe the store's) lock held: only enqueue.
  virtual bool offer(WatchBatch&& b) = 0;
};

struct WatchSpec {
  std::string key;
  std::string end;        // etcd convention: empty = one key, "\0" = from key
  int64_t start_rev = 0;  // 0: from the next revision
  bool no_put = false;
  bool no_delete = false;
  bool prev_kv = false;  // attach the previous record to every event but a key's creation
};

class WatchHub {
 public:
  explicit WatchHub(const Store& store);
  ~WatchHub();
  void start();
  void stop();

  // Registers a watcher of sink with the given id; returns the store revision at creation (for
  // the "created" response).
  int64_t add(WatchSink* sink, int64_t id, const WatchSpec& spec);
  // Removes one watcher; false if there was none with that id.
  bool remove(WatchSink* sink, int64_t id);
  void remove_all(WatchSink* sink);
  // A sink that refused a batch has room again: its watchers are caught up soon.
  void wake();

  // The whole state was replaced (a snapshot from the leader): every watcher catches up again
  // from its next revision (or is cancelled if that was compacted away).
  void resync_all();

  // Store commit hook.
  void notify(int64_t rev, const std::vector<mvccpb::KeyValue>& changes);

  size_t watchers() const;

 private:
  struct Watcher {
    WatchSink* sink;
    int64_t id;
    WatchSpec spec;
    int64_t next_rev;  // first revision not yet given to the sink
    bool synced;
  };
  using Key = std::pair<WatchSink*, int64_t>;

  bool matches(const Watcher& w, const mvccpb::Event& ev) const;
  // Adds prev_kv to the batch's events when the watcher asked (store lock held).
  void attach_prev(const Watcher& w, WatchBatch* b) const;
  void sync_loop();
  void sync_unsynced();

  const Store& store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<Key, Watcher> watchers_;
  bool stopping_ = false;
  bool pending_ = false;
  std::thread thread_;
};

}  // namespace outpost::mvcc
