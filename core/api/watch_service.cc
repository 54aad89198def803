#include <deque>
#include <map>
#include <mutex>
#include <set>

#include "core/api/auth.h"
#include "core/api/errors.h"
#include "core/api/services.h"
#include "core/mvcc/watch_hub.h"

namespace outpost::api {
namespace {

// Responses a stream may hold before its watchers are parked (caught up from disk later).
constexpr size_t kMaxQueued = 1024;

// One Watch stream: many watchers of one client. Requests are read one after another; responses
// (created / canceled / progress / events) go out in order through a queue, one write at a time.
// Events for a watcher whose "created" response is not queued yet wait behind it.
class WatchStream final : public grpc::ServerBidiReactor<pb::WatchRequest, pb::WatchResponse>,
                          public mvcc::WatchSink {
 public:
  WatchStream(server::Member& m, mvcc::WatchHub& hub, Credentials creds, bool client_cert_auth)
      : m_(m), hub_(hub), creds_(std::move(creds)), client_cert_auth_(client_cert_auth) {
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard l(mu_);
      read_done_ = true;
      maybe_finish_locked();
      return;
    }
    switch (req_.request_union_case()) {
      case pb::WatchRequest::kCreateRequest: create(req_.create_request()); break;
      case pb::WatchRequest::kCancelRequest: cancel(req_.cancel_request().watch_id()); break;
      case pb::WatchRequest::kProgressRequest: {
        pb::WatchResponse r;
        header(&r, m_.store().current_revision());
        r.set_watch_id(-1);  // not tied to one watcher
        push(std::move(r));
        break;
      }
      default: break;
    }
    StartRead(&req_);
  }

  void OnWriteDone(bool ok) override {
    bool had_refused = false;
    {
      std::lock_guard l(mu_);
      writing_ = false;
      if (!ok) {
        broken_ = true;
        maybe_finish_locked();
        return;
      }
      out_.pop_front();
      had_refused = refused_;
      refused_ = false;
      send_next_locked();
      maybe_finish_locked();
    }
    if (had_refused) hub_.wake();
  }

  void OnDone() override {
    hub_.remove_all(this);  // after this no offer() can be running or come
    delete this;
  }

  // WatchSink (called under the hub's lock, maybe the store's).
  bool offer(mvcc::WatchBatch&& b) override {
    pb::WatchResponse r;
    // etcd's compacted-watcher answer carries no revision in its header (it is sent as 0).
    if (b.compact_revision != 0)
      fill_header(m_, r.mutable_header(), false);
    else
      header(&r, b.revision);
    r.set_watch_id(b.watch_id);
    if (b.compact_revision != 0) {
      r.set_compact_revision(b.compact_revision);
      r.set_canceled(true);
    }
    for (auto& ev : b.events) *r.add_events() = std::move(ev);
    std::lock_guard l(mu_);
    if (finished_) return true;  // nobody listens any more
    if (auto it = unannounced_.find(b.watch_id); it != unannounced_.end()) {
      it->second.push_back(std::move(r));
      return true;
    }
    if (out_.size() >= kMaxQueued) {
      refused_ = true;
      return false;
    }
    out_.push_back(std::move(r));
    send_next_locked();
    return true;
  }

 private:
  void header(pb::WatchResponse* r, int64_t rev) {
    r->mutable_header()->set_revision(rev);
    fill_header(m_, r->mutable_header());
  }

  void create(const pb::WatchCreateRequest& c) {
    mvcc::WatchSpec spec;
    spec.key = c.key();
    spec.end = c.range_end();
    spec.start_rev = c.start_revision();
    spec.prev_kv = c.prev_kv();
    for (int f : c.filters()) {
      if (f == pb::WatchCreateRequest::NOPUT) spec.no_put = true;
      if (f == pb::WatchCreateRequest::NODELETE) spec.no_delete = true;
    }
    std::string error = permission_error(c);
    const bool from_key = spec.end.size() == 1 && spec.end[0] == '\0';
    if (error.empty() && !spec.end.empty() && !from_key && spec.key >= spec.end)
      error = "mvcc: watcher range is empty";
    int64_t id = c.watch_id();
    {
      std::lock_guard l(mu_);
      if (error.empty()) {
        if (id == 0) {  // etcd's AutoWatchID: the lowest free id from a running counter
          while (ids_.count(next_id_)) ++next_id_;
          id = next_id_++;
        } else if (ids_.count(id)) {
          error = "mvcc: duplicate watch ID provided on the WatchStream";
        }
      }
      if (error.empty()) {
        ids_.insert(id);
        unannounced_[id];
      }
    }
    pb::WatchResponse r;
    r.set_created(true);
    if (!error.empty()) {
      header(&r, m_.store().current_revision());
      r.set_watch_id(-1);
      r.set_canceled(true);
      r.set_cancel_reason(error);
      push(std::move(r));
      return;
    }
    const int64_t rev = hub_.add(this, id, spec);
    header(&r, rev);
    r.set_watch_id(id);
    std::lock_guard l(mu_);
    out_.push_back(std::move(r));
    auto it = unannounced_.find(id);
    for (auto& early : it->second) out_.push_back(std::move(early));
    unannounced_.erase(it);
    send_next_locked();
  }

  // Whether the caller may read what the watch covers (etcd checks each create): empty when
  // it may, else the cancel reason etcd gives, the gRPC error's text.
  std::string permission_error(const pb::WatchCreateRequest& c) {
    auto ai = resolve_caller_now(m_, creds_, client_cert_auth_);
    Status s = ai.status();
    if (ai) {
      // An empty key is the smallest key, "\0", as etcd reads it.
      const std::string key = c.key().empty() ? std::string(1, '\0') : c.key();
      s = m_.auth().check_range(ai.value(), key, c.range_end());
    }
    if (s) return {};
    switch (s.code()) {
      case ErrorCode::kInvalidAuthToken:
        return "rpc error: code = Unauthenticated desc = " + s.message();
      case ErrorCode::kAuthOldRevision:
      case ErrorCode::kUserEmpty: return "rpc error: code = InvalidArgument desc = " + s.message();
      default:
        return "rpc error: code = PermissionDenied desc = " +
               Status::of(ErrorCode::kPermissionDenied).message();
    }
  }

  void cancel(int64_t id) {
    if (!hub_.remove(this, id)) return;
    {
      std::lock_guard l(mu_);
      ids_.erase(id);
    }
    pb::WatchResponse r;
    header(&r, m_.store().current_revision());
    r.set_watch_id(id);
    r.set_canceled(true);
    push(std::move(r));
  }

  void push(pb::WatchResponse r) {
    std::lock_guard l(mu_);
    out_.push_back(std::move(r));
    send_next_locked();
  }

  void send_next_locked() {
    if (writing_ || finished_ || broken_ || out_.empty()) return;
    writing_ = true;
    StartWrite(&out_.front());
  }

  void maybe_finish_locked() {
    if (finished_ || writing_) return;
    if (broken_ || (read_done_ && out_.empty())) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  server::Member& m_;
  mvcc::WatchHub& hub_;
  const Credentials creds_;  // the stream's, for every create on it
  const bool client_cert_auth_;
  pb::WatchRequest req_;
  std::mutex mu_;
  std::deque<pb::WatchResponse> out_;
  std::map<int64_t, std::vector<pb::WatchResponse>> unannounced_;
  std::set<int64_t> ids_;
  int64_t next_id_ = 0;
  bool writing_ = false, read_done_ = false, finished_ = false, broken_ = false, refused_ = false;
};

}  // namespace

grpc::ServerBidiReactor<pb::WatchRequest, pb::WatchResponse>* WatchService::Watch(
    grpc::CallbackServerContext* ctx) {
  return new WatchStream(m_, m_.watch_hub(), credentials_of(ctx), client_cert_auth_);
}

}  // namespace outpost::api
