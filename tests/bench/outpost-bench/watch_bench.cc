// watch-latency: --watchers watchers on one key, spread over --streams Watch streams (streams
// spread over --conns); the main thread puts to the key --put-total times at --put-rate, and for
// every put each watcher contributes one sample: the time from sending the Put to that watcher
// receiving the event (matched by the put's revision).
#include <cstdio>
#include <random>
#include <thread>

#include "bench.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace outpost::bench {
namespace {

using etcdserverpb::KV;
using etcdserverpb::Watch;

// What the streams report to the main thread: watch creations and event arrivals.
class Events {
 public:
  void created() {
    std::lock_guard<std::mutex> lock(mu_);
    ++created_;
    cv_.notify_all();
  }
  void arrived(int64_t revision, Clock::time_point at) {
    std::lock_guard<std::mutex> lock(mu_);
    arrivals_.emplace_back(revision, at);
    cv_.notify_all();
  }
  void poke() { cv_.notify_all(); }

  // Waits until `pred` (called under the lock) holds or `until`.
  template <class Pred>
  bool wait(Clock::time_point until, Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, until, [&] { return pred(); });
  }

  int created_count() const { return created_; }  // under the lock (inside wait's predicate)
  size_t count(int64_t revision) const {
    size_t n = 0;
    for (const auto& a : arrivals_) n += a.first == revision;
    return n;
  }
  // Takes the samples of `revision` relative to `start`, drops everything else (late events of
  // an earlier put that timed out).
  void take(int64_t revision, Clock::time_point start, std::vector<double>* out) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& a : arrivals_)
      if (a.first == revision) out->push_back(seconds_between(start, a.second));
    arrivals_.clear();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int created_ = 0;
  std::vector<std::pair<int64_t, Clock::time_point>> arrivals_;
};

class WatchStream final : public Handler {
 public:
  WatchStream(Run& run, Events& events, Watch::Stub* stub, grpc::CompletionQueue* cq,
              std::string key, int watchers)
      : run_(run),
        events_(events),
        stub_(stub),
        cq_(cq),
        key_(std::move(key)),
        to_create_(watchers) {}

  void begin() {
    context_.set_deadline(to_system(run_.deadline()));
    authorize(&context_);
    stream_ = stub_->PrepareAsyncWatch(&context_, cq_);
    ++pending_;
    stream_->StartCall(&start_tag_);
  }

  // Any thread: ends the stream (the pending read fails, then Finish runs).
  void close() {
    closing_.store(true);
    context_.TryCancel();
  }

  void on_event(int step, bool ok) override {
    --pending_;
    switch (step) {
      case kStart:
        if (!ok) return finish();
        write_create();
        ++pending_;
        stream_->Read(&response_, &read_tag_);
        return;
      case kWrite:
        if (ok && to_create_ > 0) write_create();
        return;
      case kRead:
        if (!ok) return finish();
        on_response();
        ++pending_;
        stream_->Read(&response_, &read_tag_);
        return;
      case kFinish:
        finished_ = true;
        if (!closing_.load()) {
          if (status_.error_code() == grpc::StatusCode::UNIMPLEMENTED)
            run_.unsupported(describe(status_));
          else if (status_.ok())
            run_.error("watch stream closed by the server");
          else
            run_.error("watch stream: " + describe(status_));
          run_.stop();  // a lost stream means lost watchers: the numbers would be meaningless
          events_.poke();
        }
        break;
    }
    if (finished_ && pending_ == 0) run_.client_done();
  }

 private:
  enum Step { kStart, kWrite, kRead, kFinish };

  void write_create() {
    --to_create_;
    etcdserverpb::WatchRequest req;
    req.mutable_create_request()->set_key(key_);
    ++pending_;
    stream_->Write(req, &write_tag_);
  }

  void on_response() {
    const auto now = Clock::now();
    if (response_.created()) events_.created();
    if (response_.canceled()) {
      run_.error("watch canceled by the server: " + (response_.cancel_reason().empty()
                                                         ? std::string("(no reason given)")
                                                         : response_.cancel_reason()));
      events_.poke();
    }
    for (const auto& ev : response_.events()) events_.arrived(ev.kv().mod_revision(), now);
  }

  void finish() {
    ++pending_;
    stream_->Finish(&status_, &finish_tag_);
  }

  Run& run_;
  Events& events_;
  Watch::Stub* stub_;
  grpc::CompletionQueue* cq_;
  const std::string key_;
  int to_create_;
  int pending_ = 0;
  bool finished_ = false;
  std::atomic<bool> closing_{false};
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientAsyncReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
      stream_;
  etcdserverpb::WatchResponse response_;
  grpc::Status status_;
  Tag start_tag_{this, kStart};
  Tag write_tag_{this, kWrite};
  Tag read_tag_{this, kRead};
  Tag finish_tag_{this, kFinish};
};

constexpr auto kEventWait = std::chrono::seconds(5);

}  // namespace

int run_watch_latency(const Options& o) {
  if (std::string err = authenticate(o, credentials(o)); !err.empty()) {
    std::fprintf(stderr, "outpost-bench: %s\n", err.c_str());
    return kExitErrors;
  }
  Connections conns(o.endpoints, o.conns, credentials(o));
  if (std::string err = conns.connect(o.dial_timeout_s); !err.empty()) {
    std::fprintf(stderr, "outpost-bench: %s\n", err.c_str());
    return kExitErrors;
  }
  std::vector<std::unique_ptr<Watch::Stub>> stubs;
  for (int i = 0; i < conns.size(); ++i) stubs.push_back(Watch::NewStub(conns.channel(i)));
  auto kv = KV::NewStub(conns.channel(0));

  const std::string key = random_bytes(size_t(o.key_size), std::random_device{}());
  const std::string value = random_bytes(size_t(o.val_size), std::random_device{}());
  Run run(0, 0, o.timeout_s, o.streams);
  Events events;
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int s = 0; s < o.streams; ++s) {
    const int conn = s % conns.size();
    const int n = o.watchers / o.streams + (s < o.watchers % o.streams ? 1 : 0);
    streams.push_back(std::make_unique<WatchStream>(run, events, stubs[size_t(conn)].get(),
                                                    conns.queue(conn), key, n));
  }
  for (auto& s : streams) s->begin();

  auto close_all = [&] {
    run.stop();
    for (auto& s : streams) s->close();
    finish_clients(run, conns);
  };

  // Every watcher must be in place before the first put.
  const bool all_created = events.wait(run.deadline(), [&] {
    return events.created_count() >= o.watchers || run.stopping() || !run.errors().empty();
  });
  if (!all_created || run.stopping() || !run.errors().empty()) {
    close_all();
    RunResult result;
    result.op = "watch-latency";
    if (run.unsupported_message().empty() && run.errors().empty())
      run.error("watchers not created before --timeout");
    result.timed_out = run.past_deadline();
    return print_result(o, result, run, "watch");
  }

  std::vector<double> latencies;
  const auto put_start = Clock::now();
  bool timed_out = false;
  for (uint64_t i = 0; i < o.put_total; ++i) {
    const auto due = put_start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(double(i) / o.put_rate));
    if (due >= run.deadline()) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_until(due);
    grpc::ClientContext ctx;
    ctx.set_deadline(to_system(run.deadline()));
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    const auto start = Clock::now();
    authorize(&ctx);
    grpc::Status st = kv->Put(&ctx, req, &resp);
    if (!st.ok()) {
      run.error("put: " + describe(st));
      if (run.past_deadline()) {
        timed_out = true;
        break;
      }
      continue;
    }
    const int64_t rev = resp.header().revision();
    const auto until = std::min(run.deadline(), Clock::now() + kEventWait);
    events.wait(until, [&] { return events.count(rev) >= size_t(o.watchers) || run.stopping(); });
    const size_t before = latencies.size();
    events.take(rev, start, &latencies);
    const size_t got = latencies.size() - before;
    for (size_t m = got; m < size_t(o.watchers); ++m)
      run.error("watch event not received within 5s of the put");
    if (run.stopping()) break;
  }
  const auto put_end = Clock::now();
  close_all();

  RunResult result;
  result.op = "watch-latency";
  result.clients = o.watchers;
  result.conns = o.conns;
  result.total = o.put_total * uint64_t(o.watchers);
  result.seconds = seconds_between(put_start, put_end);
  result.latencies = std::move(latencies);
  result.timed_out = timed_out;
  result.note = "watch-latency: " + std::to_string(o.watchers) + " watchers on " +
                std::to_string(o.streams) + " streams, " + std::to_string(o.put_total) +
                " puts; latency = Put sent -> event received, one sample per watcher per put";
  return print_result(o, result, run, "watch");
}

}  // namespace outpost::bench
