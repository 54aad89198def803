// outpost-watch-fanout follow: watchers that re-create their watch on another member when their
// stream ends, and writers that move to another member on a failure (see watch_tool.h).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "watch_tool.h"

namespace outpost::watch_tool {
namespace {

using etcdserverpb::KV;
using etcdserverpb::Watch;

// ---------------------------------------------------------------------------------------------
// follow

struct Attempt {
  double t = 0;
  std::string endpoint;
  int64_t start_rev = 0, last_seen = 0;
  bool created = false;
  std::string ended;  // why the stream ended ("" while it runs)
};

struct Recorded {
  int64_t rev;
  Ev ev;
  int response;
};

class FollowWatcher {
 public:
  FollowWatcher(std::string name, std::vector<std::string> eps, bool require_leader,
                std::string prefix, int64_t start_rev, Clock::time_point t0)
      : name_(std::move(name)),
        eps_(std::move(eps)),
        require_leader_(require_leader),
        prefix_(std::move(prefix)),
        start_rev_(start_rev),
        t0_(t0) {
    for (size_t i = 0; i < eps_.size(); ++i)
      stubs_.push_back(Watch::NewStub(make_channel(eps_[i], 200 + int(i))));
  }

  void start() {
    thread_ = std::thread([this] { loop(); });
  }

  void stop() {
    stop_.store(true);
    std::lock_guard<std::mutex> l(mu_);
    if (ctx_) ctx_->TryCancel();
  }
  void join() { thread_.join(); }

  // Sends a progress request down the current stream (if any); its answer counts in progress().
  void request_progress() {
    std::lock_guard<std::mutex> l(mu_);
    if (!rw_) return;
    etcdserverpb::WatchRequest req;
    req.mutable_progress_request();
    rw_->Write(req);
  }

  int64_t last_rev() const { return last_rev_.load(); }
  bool created_once() const { return created_once_.load(); }
  int progress() const { return progress_.load(); }
  int attempts() {
    std::lock_guard<std::mutex> l(mu_);
    return int(attempts_.size());
  }
  const std::string& name() const { return name_; }

  std::string json() {
    std::lock_guard<std::mutex> l(mu_);
    std::ostringstream o;
    o << "{\"name\": " << json_str(name_)
      << ", \"require_leader\": " << (require_leader_ ? "true" : "false")
      << ", \"start_rev\": " << start_rev_ << ", \"last_rev\": " << last_rev_.load()
      << ", \"responses\": " << responses_ << ", \"error\": " << json_str(error_)
      << ", \"attempts\": [";
    for (size_t i = 0; i < attempts_.size(); ++i) {
      const auto& a = attempts_[i];
      o << (i ? ", " : "") << "{\"t\": " << a.t << ", \"endpoint\": " << json_str(a.endpoint)
        << ", \"start_rev\": " << a.start_rev << ", \"last_seen\": " << a.last_seen
        << ", \"created\": " << (a.created ? "true" : "false")
        << ", \"ended\": " << json_str(a.ended) << "}";
    }
    o << "], \"events\": [";
    for (size_t i = 0; i < events_.size(); ++i) {
      const auto& r = events_[i];
      o << (i ? ", " : "") << "[" << r.rev << ", " << r.ev.type << ", " << json_str(r.ev.kv.key)
        << ", " << json_str(r.ev.kv.value) << ", " << r.ev.kv.create << ", " << r.ev.kv.version
        << ", " << r.ev.kv.lease << ", " << r.response << "]";
    }
    o << "]}";
    return o.str();
  }

 private:
  void loop() {
    size_t pos = 0;
    while (!stop_.load()) {
      const size_t ep = pos % eps_.size();
      grpc::ClientContext ctx;
      if (require_leader_) ctx.AddMetadata("hasleader", "true");  // clientv3.WithRequireLeader
      Attempt at;
      at.t = since(t0_);
      at.endpoint = eps_[ep];
      at.last_seen = last_rev_.load();
      at.start_rev = at.last_seen > 0 ? at.last_seen + 1 : start_rev_;
      std::unique_ptr<Stream> rw;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stop_.load()) break;
        ctx_ = &ctx;
        rw = stubs_[ep]->Watch(&ctx);
        attempts_.push_back(at);
        etcdserverpb::WatchRequest req;
        auto* c = req.mutable_create_request();
        c->set_key(prefix_);
        std::string end = prefix_;
        end.back()++;
        c->set_range_end(end);
        c->set_start_revision(at.start_rev);
        if (rw->Write(req)) rw_ = rw.get();
      }
      std::string ended;  // set when we end the stream ourselves (the server cancelled the watch)
      etcdserverpb::WatchResponse r;
      while (rw_ && rw->Read(&r)) {
        if (r.created()) {
          if (r.canceled()) {
            ended = "create refused: " + r.cancel_reason();
            break;
          }
          std::lock_guard<std::mutex> l(mu_);
          attempts_.back().created = true;
          created_once_.store(true);
          continue;
        }
        if (r.canceled()) {
          ended = "cancelled by the server: reason=\"" + r.cancel_reason() +
                  "\" compact_revision=" + std::to_string(r.compact_revision());
          if (r.compact_revision() != 0) {
            std::lock_guard<std::mutex> l(mu_);
            error_ = ended;
            stop_.store(true);
          }
          break;
        }
        if (r.events_size() == 0) {
          if (r.watch_id() == -1) progress_.fetch_add(1);
          continue;
        }
        std::lock_guard<std::mutex> l(mu_);
        for (const auto& e : r.events())
          events_.push_back(Recorded{e.kv().mod_revision(), from_pb(e), responses_});
        ++responses_;
        last_rev_.store(
            std::max(last_rev_.load(), int64_t(r.events(r.events_size() - 1).kv().mod_revision())));
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        rw_ = nullptr;
        if (!ended.empty()) ctx.TryCancel();  // else Read failed: the stream is over already
      }
      const grpc::Status st = rw->Finish();
      {
        std::lock_guard<std::mutex> l(mu_);
        ctx_ = nullptr;
        if (ended.empty())
          ended = stop_.load() ? "stopped"
                               : "stream ended: code=" + std::to_string(int(st.error_code())) +
                                     " " + st.error_message();
        attempts_.back().ended = ended;
      }
      if (stop_.load()) break;
      ++pos;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a client's reconnect backoff
    }
  }

  const std::string name_;
  const std::vector<std::string> eps_;
  const bool require_leader_;
  const std::string prefix_;
  const int64_t start_rev_;
  const Clock::time_point t0_;
  std::vector<std::unique_ptr<Watch::Stub>> stubs_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, created_once_{false};
  std::atomic<int64_t> last_rev_{0};
  std::atomic<int> progress_{0};
  std::mutex mu_;
  grpc::ClientContext* ctx_ = nullptr;  // under mu_
  Stream* rw_ = nullptr;                // under mu_: the stream while it can be written to
  std::vector<Attempt> attempts_;
  std::vector<Recorded> events_;
  int responses_ = 0;
  std::string error_;
};

struct Acked {
  std::string key, value;
  int64_t rev;
};

class FollowWriter {
 public:
  FollowWriter(int index, std::string prefix, std::vector<std::string> eps)
      : index_(index), prefix_(std::move(prefix)), eps_(std::move(eps)) {
    for (size_t i = 0; i < eps_.size(); ++i)
      stubs_.push_back(KV::NewStub(make_channel(eps_[i], 300 + index * 10 + int(i))));
  }
  void start(const std::atomic<bool>& stop) {
    thread_ = std::thread([this, &stop] { loop(stop); });
  }
  void join() { thread_.join(); }

  std::mutex mu;
  std::vector<Acked> acked;
  int failed = 0;
  std::vector<std::string> errors;

 private:
  void loop(const std::atomic<bool>& stop) {
    size_t pos = size_t(index_);
    for (int seq = 0; !stop.load(); ++seq) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%06d", seq);
      const std::string k = prefix_ + "w" + std::to_string(index_) + "/" + buf;
      const std::string v = "v" + std::to_string(index_) + "." + std::to_string(seq);
      etcdserverpb::PutRequest req;
      req.set_key(k);
      req.set_value(v);
      etcdserverpb::PutResponse resp;
      grpc::ClientContext c;
      c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
      const grpc::Status st = stubs_[pos % eps_.size()]->Put(&c, req, &resp);
      std::lock_guard<std::mutex> l(mu);
      if (st.ok()) {
        acked.push_back(Acked{k, v, resp.header().revision()});
      } else {
        ++failed;
        if (errors.size() < 5)
          errors.push_back(eps_[pos % eps_.size()] + ": " + st.error_message());
        ++pos;  // try the next member
        mu.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a client's retry backoff
        mu.lock();
      }
    }
  }

  const int index_;
  const std::string prefix_;
  const std::vector<std::string> eps_;
  std::vector<std::unique_ptr<KV::Stub>> stubs_;
  std::thread thread_;
};

}  // namespace

int run_follow(const Args& a) {
  const auto t0 = Clock::now();
  std::vector<std::shared_ptr<grpc::Channel>> all_channels;
  for (size_t i = 0; i < a.endpoints.size(); ++i)
    all_channels.push_back(make_channel(a.endpoints[i], 400 + int(i)));
  std::string err;
  const int64_t start_rev = current_revision(all_channels, &err);
  if (start_rev < 0) {
    std::printf("{\"result\": {\"error\": %s}}\n",
                json_str("no endpoint answered a Range: " + err).c_str());
    return 0;
  }
  std::vector<std::unique_ptr<FollowWatcher>> watchers;
  for (const auto& spec : a.watchers) {
    const auto parts = split(spec, ':');
    if (parts.size() < 2 || parts.size() > 3 || (parts.size() == 3 && parts[2] != "require-leader"))
      usage("bad --watcher " + spec);
    std::vector<std::string> eps;
    for (int i : parse_indexes(parts[1], a.endpoints.size())) eps.push_back(a.endpoints[size_t(i)]);
    watchers.push_back(std::make_unique<FollowWatcher>(parts[0], eps, parts.size() == 3, a.prefix,
                                                       start_rev + 1, t0));
  }
  for (auto& w : watchers) w->start();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.timeout_s));
  while (Clock::now() < deadline &&
         !std::all_of(watchers.begin(), watchers.end(), [](auto& w) { return w->created_once(); }))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::printf("{\"ready\": {\"start_rev\": %lld, \"t\": %.3f}}\n", (long long)start_rev, since(t0));
  std::fflush(stdout);

  std::vector<std::string> weps;
  std::vector<std::shared_ptr<grpc::Channel>> wchannels;
  for (int i : a.writer_endpoints) {
    weps.push_back(a.endpoints[size_t(i)]);
    wchannels.push_back(all_channels[size_t(i)]);
  }
  std::atomic<bool> stop_writers{false};
  std::vector<std::unique_ptr<FollowWriter>> writers;
  for (int w = 0; w < a.writers; ++w)
    writers.push_back(std::make_unique<FollowWriter>(w, a.prefix, weps));
  for (auto& w : writers) w->start(stop_writers);

  std::atomic<bool> stop_requested{false};
  std::thread input([&] {
    std::string line;
    while (std::getline(std::cin, line))
      if (line == "stop") break;
    stop_requested.store(true);
  });
  input.detach();  // blocked in getline until stdin closes; the process exits without it

  auto status = [&] {
    std::ostringstream o;
    size_t acked = 0;
    int failed = 0;
    for (auto& w : writers) {
      std::lock_guard<std::mutex> l(w->mu);
      acked += w->acked.size();
      failed += w->failed;
    }
    o << "{\"status\": {\"t\": " << since(t0) << ", \"acked\": " << acked
      << ", \"failed\": " << failed << ", \"watchers\": {";
    for (size_t i = 0; i < watchers.size(); ++i)
      o << (i ? ", " : "") << json_str(watchers[i]->name())
        << ": {\"last_rev\": " << watchers[i]->last_rev()
        << ", \"attempts\": " << watchers[i]->attempts() << "}";
    o << "}}}";
    std::printf("%s\n", o.str().c_str());
    std::fflush(stdout);
  };
  while (!stop_requested.load() && Clock::now() < deadline) {
    status();
    for (int i = 0; i < 20 && !stop_requested.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop_writers.store(true);
  for (auto& w : writers) w->join();
  const double stopped_at = since(t0);
  const int64_t final_rev = current_revision(wchannels, &err);
  while (Clock::now() < deadline && !std::all_of(watchers.begin(), watchers.end(), [&](auto& w) {
           return w->last_rev() >= final_rev;
         }))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const double caught_up_at = since(t0);
  // Barrier for stragglers (a repeated event sent late): one progress round trip per stream.
  std::vector<int> before;
  for (auto& w : watchers) {
    before.push_back(w->progress());
    w->request_progress();
  }
  const auto barrier_deadline = std::min(deadline, Clock::now() + std::chrono::seconds(5));
  for (size_t i = 0; i < watchers.size(); ++i)
    while (Clock::now() < barrier_deadline && watchers[i]->progress() <= before[i])
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (auto& w : watchers) w->stop();
  for (auto& w : watchers) w->join();

  std::ostringstream o;
  o << "{\"result\": {\"start_rev\": " << start_rev << ", \"final_rev\": " << final_rev
    << ", \"final_rev_error\": " << json_str(final_rev < 0 ? err : "")
    << ", \"stopped_at\": " << stopped_at << ", \"caught_up_at\": " << caught_up_at
    << ", \"watchers\": [";
  for (size_t i = 0; i < watchers.size(); ++i) o << (i ? ", " : "") << watchers[i]->json();
  o << "], \"acked\": [";
  bool first = true;
  int failed = 0;
  std::vector<std::string> errors;
  for (auto& w : writers) {
    for (const auto& k : w->acked) {
      o << (first ? "" : ", ") << "[" << json_str(k.key) << ", " << json_str(k.value) << ", "
        << k.rev << "]";
      first = false;
    }
    failed += w->failed;
    errors.insert(errors.end(), w->errors.begin(), w->errors.end());
  }
  o << "], \"write_failures\": " << failed << ", \"write_errors\": [";
  for (size_t i = 0; i < errors.size(); ++i) o << (i ? ", " : "") << json_str(errors[i]);
  o << "]}}";
  std::printf("%s\n", o.str().c_str());
  std::fflush(stdout);
  std::_Exit(0);  // the stdin reader may still be blocked
}

}  // namespace outpost::watch_tool
