// mvcc::WatchHub: events reach watchers exactly once and in revision order, whether they come
// live from commits or from history on disk, including across a slow sink being parked.
#include "core/mvcc/watch_hub.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <thread>

#include "tests/common/temp_dir.h"

using namespace outpost;
using mvcc::WatchBatch;
using mvcc::WatchHub;
using mvcc::WatchSpec;

namespace {

struct TempStore {
  outpost::testing::TempDir dir;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<mvcc::Store> store;
  TempStore() {
    engine = std::move(storage::Engine::open(dir.path()).value());
    store = std::move(mvcc::Store::open(engine.get()).value());
  }
  ~TempStore() {
    store.reset();
    engine.reset();
  }
  int64_t put(const std::string& k, const std::string& v) {
    mvcc::WriteTxn t(*store);
    const int64_t rev = t.put(k, v, 0);
    REQUIRE(t.end());
    return rev;
  }
  void del(const std::string& k) {
    mvcc::WriteTxn t(*store);
    int64_t rev = 0;
    t.delete_range(k, "", &rev);
    REQUIRE(t.end());
  }
};

// Records every batch; can be told to refuse (a full stream queue).
struct Sink : mvcc::WatchSink {
  std::mutex mu;
  std::vector<WatchBatch> batches;
  bool refuse = false;
  bool offer(WatchBatch&& b) override {
    std::lock_guard l(mu);
    if (refuse) return false;
    batches.push_back(std::move(b));
    return true;
  }
  // (type, key, mod revision) of every event received, in order.
  std::vector<std::tuple<int, std::string, int64_t>> events() {
    std::lock_guard l(mu);
    std::vector<std::tuple<int, std::string, int64_t>> out;
    for (auto& b : batches)
      for (auto& e : b.events) out.emplace_back(e.type(), e.kv().key(), e.kv().mod_revision());
    return out;
  }
  size_t count() { return events().size(); }
};

bool poll(const std::function<bool()>& f) {
  for (int i = 0; i < 500; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

struct Fixture {
  TempStore ts;
  WatchHub hub{*ts.store};
  Fixture() {
    ts.store->set_on_commit(
        [this](int64_t rev, const std::vector<mvccpb::KeyValue>& ch) { hub.notify(rev, ch); });
    hub.start();
  }
  ~Fixture() { hub.stop(); }
};

}  // namespace

TEST_CASE("a watcher from now on gets each later revision of its key, live, once", "[watch]") {
  Fixture f;
  Sink s;
  WatchSpec spec;
  spec.key = "a";
  CHECK(f.hub.add(&s, 0, spec) == 1);  // created at the current revision
  f.ts.put("a", "1");
  f.ts.put("b", "x");  // not watched
  f.ts.put("a", "2");
  f.ts.del("a");
  REQUIRE(poll([&] { return s.count() == 3; }));
  auto ev = s.events();
  CHECK(ev[0] == std::make_tuple(0, std::string("a"), int64_t(2)));
  CHECK(ev[1] == std::make_tuple(0, std::string("a"), int64_t(4)));
  CHECK(ev[2] == std::make_tuple(1, std::string("a"), int64_t(5)));
  CHECK(s.batches.back().revision == 5);
}

TEST_CASE(
    "a watcher from an old revision replays history, then continues live without a gap "
    "or a duplicate",
    "[watch]") {
  Fixture f;
  for (int i = 0; i < 50; ++i) f.ts.put("k" + std::to_string(i % 5), std::to_string(i));
  Sink s;
  WatchSpec spec;
  spec.key = "k";
  spec.end = "l";
  spec.start_rev = 10;
  f.hub.add(&s, 7, spec);
  // Writes keep coming while it catches up.
  for (int i = 50; i < 100; ++i) f.ts.put("k" + std::to_string(i % 5), std::to_string(i));
  REQUIRE(poll([&] { return s.count() == 92; }));  // revisions 10..101
  auto ev = s.events();
  for (size_t i = 0; i < ev.size(); ++i) CHECK(std::get<2>(ev[i]) == int64_t(10 + i));
  for (auto& b : s.batches) CHECK(b.watch_id == 7);
}

TEST_CASE("a slow sink is parked and catches up from disk with nothing lost or repeated",
          "[watch]") {
  Fixture f;
  Sink s;
  WatchSpec spec;
  spec.key = "a";
  spec.end = std::string(1, '\0');  // from key
  f.hub.add(&s, 0, spec);
  f.ts.put("a", "0");
  REQUIRE(poll([&] { return s.count() == 1; }));
  {
    std::lock_guard l(s.mu);
    s.refuse = true;
  }
  for (int i = 1; i <= 30; ++i) f.ts.put("b" + std::to_string(i), "v");  // the apply path runs on
  {
    std::lock_guard l(s.mu);
    s.refuse = false;
  }
  f.hub.wake();
  for (int i = 31; i <= 40; ++i) f.ts.put("b" + std::to_string(i), "v");
  REQUIRE(poll([&] { return s.count() == 41; }));
  auto ev = s.events();
  for (size_t i = 0; i < ev.size(); ++i) CHECK(std::get<2>(ev[i]) == int64_t(2 + i));
}

TEST_CASE(
    "filters drop puts or deletes; prev_kv carries the record before each change but a "
    "creation",
    "[watch]") {
  Fixture f;
  Sink noput, nodel, prev;
  WatchSpec a;
  a.key = "k";
  a.no_put = true;
  WatchSpec b;
  b.key = "k";
  b.no_delete = true;
  WatchSpec c;
  c.key = "k";
  c.prev_kv = true;
  f.hub.add(&noput, 0, a);
  f.hub.add(&nodel, 0, b);
  f.hub.add(&prev, 0, c);
  f.ts.put("k", "1");
  f.ts.put("k", "2");
  f.ts.del("k");
  REQUIRE(poll([&] { return prev.count() == 3 && nodel.count() == 2 && noput.count() == 1; }));
  CHECK(std::get<0>(noput.events()[0]) == 1);
  std::lock_guard l(prev.mu);
  std::vector<mvccpb::Event> evs;
  for (auto& bt : prev.batches)
    for (auto& e : bt.events) evs.push_back(e);
  CHECK_FALSE(evs[0].has_prev_kv());  // creation
  CHECK(evs[1].prev_kv().value() == "1");
  CHECK(evs[2].prev_kv().value() == "2");
}

TEST_CASE("a watcher whose start revision was compacted is cancelled with the compact revision",
          "[watch]") {
  Fixture f;
  for (int i = 0; i < 10; ++i) f.ts.put("a", std::to_string(i));
  {
    mvcc::WriteTxn t(*f.ts.store);
    REQUIRE(t.compact(8));
    REQUIRE(t.end());
  }
  Sink s;
  WatchSpec spec;
  spec.key = "a";
  spec.start_rev = 3;
  f.hub.add(&s, 4, spec);
  REQUIRE(poll([&] {
    std::lock_guard l(s.mu);
    return !s.batches.empty();
  }));
  std::lock_guard l(s.mu);
  CHECK(s.batches[0].watch_id == 4);
  CHECK(s.batches[0].compact_revision == 8);
  CHECK(s.batches[0].events.empty());
  CHECK(f.hub.watchers() == 0);
}

TEST_CASE("removing a watcher stops its events; removing a sink removes all of its watchers",
          "[watch]") {
  Fixture f;
  Sink s;
  WatchSpec spec;
  spec.key = "a";
  f.hub.add(&s, 1, spec);
  f.hub.add(&s, 2, spec);
  CHECK(f.hub.remove(&s, 1));
  CHECK_FALSE(f.hub.remove(&s, 1));
  f.ts.put("a", "x");
  REQUIRE(poll([&] { return s.count() == 1; }));
  CHECK(s.batches[0].watch_id == 2);
  f.hub.remove_all(&s);
  CHECK(f.hub.watchers() == 0);
}
