// outpost-watch-fanout fanout: many watchers over one or many Watch streams, checked against the
// writes the tool makes itself (see watch_tool.h for the command line and the checks).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "watch_tool.h"

namespace outpost::watch_tool {
namespace {

using etcdserverpb::KV;
using etcdserverpb::Watch;

// What a watcher covers: one key (end empty), [key, end), or from key (end "\0").
struct Spec {
  std::string key, end;
  bool prev_kv = false;
  bool matches(const std::string& k) const {
    if (end.empty()) return k == key;
    if (end == std::string(1, '\0')) return k >= key;
    return k >= key && k < end;
  }
  std::string describe() const {
    std::string s = end.empty() ? "key " + key : "range [" + key + ", " + end + ")";
    return s + (prev_kv ? " prev_kv" : "");
  }
};

// ---------------------------------------------------------------------------------------------
// fanout

struct Revision {
  int64_t rev = 0;
  std::vector<Ev> evs;  // with prev (stripped for watchers without prev_kv)
};

// One writer: owns keys [first, first + count) and models them.
class Writer {
 public:
  // `initial`: every key of the key set as it is before the first write (the model's start).
  Writer(int index, const Args& a, std::shared_ptr<grpc::Channel> ch, int ops,
         const std::map<std::string, Kv>& initial)
      : index_(index),
        prefix_(a.prefix),
        first_(index * (a.keys / a.writers)),
        count_(a.keys / a.writers),
        ops_(ops),
        rng_(uint64_t(a.seed) * 1000003u + uint64_t(index)),
        kv_(KV::NewStub(ch)) {
    for (int i = 0; i < count_; ++i)
      if (auto it = initial.find(key(i)); it != initial.end()) state_.insert(*it);
  }

  void run(const std::atomic<bool>& stop) {
    for (int i = 0; i < ops_ && !stop.load() && error.empty(); ++i) one(i);
  }

  static std::string key_of(const std::string& prefix, int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%03d", i);
    return prefix + buf;
  }

  std::vector<Revision> revisions;  // this writer's, ascending
  std::string error;                // first failure; the model is unknown after it
  int done = 0;
  std::map<std::string, int> op_counts;

 private:
  std::string key(int i) const { return key_of(prefix_, first_ + i); }
  int pick() { return int(rng_() % uint64_t(count_)); }

  void ctx_deadline(grpc::ClientContext* c) {
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

  // Applies the model change of one revision.
  void commit(int64_t rev, std::vector<Ev> evs) {
    if (evs.empty()) return;
    if (!revisions.empty() && rev <= revisions.back().rev) {
      fail("revision " + std::to_string(rev) + " of a write is not above this writer's previous " +
           std::to_string(revisions.back().rev));
      return;
    }
    for (auto& e : evs) {
      e.kv.mod = rev;
      if (e.type == 0) {
        e.kv.create = e.has_prev ? e.prev.create : rev;
        e.kv.version = e.has_prev ? e.prev.version + 1 : 1;
        state_[e.kv.key] = e.kv;
      } else {
        state_.erase(e.kv.key);
      }
    }
    revisions.push_back(Revision{rev, std::move(evs)});
  }

  Ev put_event(const std::string& k, const std::string& v) {
    Ev e;
    e.type = 0;
    e.kv.key = k;
    e.kv.value = v;
    if (auto it = state_.find(k); it != state_.end()) {
      e.has_prev = true;
      e.prev = it->second;
    }
    return e;
  }

  bool delete_event(const std::string& k, Ev* out) {
    auto it = state_.find(k);
    if (it == state_.end()) return false;
    out->type = 1;
    out->kv = Kv{};
    out->kv.key = k;
    out->has_prev = true;
    out->prev = it->second;
    return true;
  }

  void fail(const std::string& what) {
    if (error.empty()) error = "writer " + std::to_string(index_) + ": " + what;
  }

  std::string value() { return "v" + std::to_string(index_) + "." + std::to_string(seq_++); }

  void one(int) {
    const int r = int(rng_() % 100);
    if (r < 55)
      do_put();
    else if (r < 70)
      do_delete(pick(), 1);
    else if (r < 80) {
      const int n = 2 + int(rng_() % 5);
      const int a = int(rng_() % uint64_t(count_ - n + 1));
      do_delete(a, n);
    } else {
      do_txn();
    }
    ++done;
  }

  void do_put() {
    ++op_counts["put"];
    const std::string k = key(pick()), v = value();
    etcdserverpb::PutRequest req;
    req.set_key(k);
    req.set_value(v);
    etcdserverpb::PutResponse resp;
    grpc::ClientContext c;
    ctx_deadline(&c);
    const grpc::Status st = kv_->Put(&c, req, &resp);
    if (!st.ok()) return fail("Put " + k + ": " + st.error_message());
    commit(resp.header().revision(), {put_event(k, v)});
  }

  void do_delete(int a, int n) {
    ++op_counts[n == 1 ? "delete" : "delete-range"];
    etcdserverpb::DeleteRangeRequest req;
    req.set_key(key(a));
    if (n > 1) req.set_range_end(key(a + n));
    std::vector<Ev> evs;
    for (int i = a; i < a + n; ++i) {
      Ev e;
      if (delete_event(key(i), &e)) evs.push_back(std::move(e));
    }
    etcdserverpb::DeleteRangeResponse resp;
    grpc::ClientContext c;
    ctx_deadline(&c);
    const grpc::Status st = kv_->DeleteRange(&c, req, &resp);
    if (!st.ok()) return fail("DeleteRange " + key(a) + ": " + st.error_message());
    if (resp.deleted() != int64_t(evs.size()))
      return fail("DeleteRange [" + key(a) + ", +" + std::to_string(n) + ") deleted " +
                  std::to_string(resp.deleted()) + ", the model says " +
                  std::to_string(evs.size()));
    commit(resp.header().revision(), std::move(evs));
  }

  void do_txn() {
    ++op_counts["txn"];
    // Four distinct keys of this writer.
    std::vector<int> ks;
    while (ks.size() < 4) {
      const int k = pick();
      if (std::find(ks.begin(), ks.end(), k) == ks.end()) ks.push_back(k);
    }
    const std::string k1 = key(ks[0]), k2 = key(ks[1]), k3 = key(ks[2]), k4 = key(ks[3]);
    auto it = state_.find(k1);
    const int64_t version = it == state_.end() ? 0 : it->second.version;
    const bool force_fail = rng_() % 4 == 0;
    etcdserverpb::TxnRequest req;
    auto* cmp = req.add_compare();
    cmp->set_key(k1);
    cmp->set_target(etcdserverpb::Compare::VERSION);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_version(force_fail ? version + 1 : version);
    const std::string v2 = value(), v3 = value(), v1 = value();
    auto put = [](etcdserverpb::RequestOp* op, const std::string& k, const std::string& v) {
      op->mutable_request_put()->set_key(k);
      op->mutable_request_put()->set_value(v);
    };
    put(req.add_success(), k2, v2);
    req.add_success()->mutable_request_range()->set_key(k1);
    put(req.add_success(), k3, v3);
    req.add_success()->mutable_request_delete_range()->set_key(k4);
    put(req.add_failure(), k1, v1);
    std::vector<Ev> evs;
    if (!force_fail) {
      evs.push_back(put_event(k2, v2));
      evs.push_back(put_event(k3, v3));
      Ev d;
      if (delete_event(k4, &d)) evs.push_back(std::move(d));
    } else {
      evs.push_back(put_event(k1, v1));
    }
    etcdserverpb::TxnResponse resp;
    grpc::ClientContext c;
    ctx_deadline(&c);
    const grpc::Status st = kv_->Txn(&c, req, &resp);
    if (!st.ok()) return fail("Txn: " + st.error_message());
    if (resp.succeeded() == force_fail)
      return fail("Txn on " + k1 + " (version " + std::to_string(version) + ") succeeded=" +
                  (resp.succeeded() ? "true" : "false") + ", the model says the opposite");
    commit(resp.header().revision(), std::move(evs));
  }

  const int index_;
  const std::string prefix_;
  const int first_, count_, ops_;
  std::mt19937_64 rng_;
  std::unique_ptr<KV::Stub> kv_;
  std::map<std::string, Kv> state_;
  int seq_ = 0;
};

// One watcher: what it covers and every response it got (events only).
struct Watcher {
  int global = 0;
  std::string group;
  int stream = 0;
  Spec spec;
  int64_t id = -1;
  bool created = false;
  std::string error;  // refused, cancelled, unknown id
  std::vector<std::vector<Ev>> responses;
  std::vector<int64_t> header_revs;
  std::atomic<int64_t> last_rev{0};
  int64_t last_expected = 0;
};

struct FanoutStream {
  int index = 0;
  std::string group;
  std::string endpoint;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<Watch::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> rw;
  std::vector<Watcher*> watchers;  // in create order
  std::unordered_map<int64_t, Watcher*> by_id;
  size_t created = 0;
  std::atomic<int> progress{0};
  std::atomic<bool> ended{false};
  std::atomic<bool> closing{false};
  std::string error;  // stream-level: ended early, response for an unknown id
  std::thread reader;
};

std::atomic<int> g_created{0};
std::atomic<int> g_refused{0};

void read_stream(FanoutStream* s) {
  etcdserverpb::WatchResponse r;
  while (s->rw->Read(&r)) {
    if (r.created()) {
      if (s->created >= s->watchers.size()) {
        s->error = "more created responses than create requests";
        continue;
      }
      Watcher* w = s->watchers[s->created++];
      if (r.canceled()) {
        w->error = "create refused: " + r.cancel_reason();
        g_refused.fetch_add(1);
      } else {
        w->id = r.watch_id();
        w->created = true;
        s->by_id[w->id] = w;
      }
      g_created.fetch_add(1);
      if (r.events_size() == 0) continue;
    }
    if (r.watch_id() == -1 && r.events_size() == 0 && !r.canceled()) {
      s->progress.fetch_add(1);
      continue;
    }
    auto it = s->by_id.find(r.watch_id());
    if (it == s->by_id.end()) {
      if (s->error.empty())
        s->error = "response for unknown watch id " + std::to_string(r.watch_id());
      continue;
    }
    Watcher* w = it->second;
    if (r.canceled()) {
      if (w->error.empty())
        w->error = "cancelled by the server: reason=\"" + r.cancel_reason() +
                   "\" compact_revision=" + std::to_string(r.compact_revision());
      continue;
    }
    if (r.events_size() == 0) continue;  // a progress notification for this watcher
    std::vector<Ev> evs;
    evs.reserve(size_t(r.events_size()));
    for (const auto& e : r.events()) evs.push_back(from_pb(e));
    w->header_revs.push_back(r.header().revision());
    const int64_t last = evs.back().kv.mod;
    w->responses.push_back(std::move(evs));
    w->last_rev.store(last);
  }
  const grpc::Status st = s->rw->Finish();
  if (!s->closing.load() && s->error.empty())
    s->error = "stream ended by the server: code=" + std::to_string(int(st.error_code())) + " " +
               st.error_message();
  s->ended.store(true);
}

// The check kinds, each counted per group.
const char* const kChecks[] = {"not_created",    "cancelled_or_stream_error",
                               "missing",        "duplicate",
                               "unexpected",     "order",
                               "split",          "kv_mismatch",
                               "header_revision"};

struct GroupResult {
  std::string name;
  int streams = 0, watchers = 0, watchers_ok = 0;
  int64_t expected = 0, received = 0, responses = 0;
  std::map<std::string, int64_t> checks;  // check -> watchers failing it
  std::map<std::string, int> kinds;       // spec kind -> watchers
};

// Checks one watcher against the global revision list; returns the failing checks, with a
// message for each (the first occurrence).
std::map<std::string, std::string> check_watcher(const Watcher& w, const std::vector<Revision>& all,
                                                 int64_t* expected_events,
                                                 int64_t* received_events) {
  std::map<std::string, std::string> fail;
  auto note = [&](const std::string& check, const std::string& msg) {
    if (!fail.count(check)) fail[check] = msg;
  };
  if (!w.created)
    note("not_created", w.error.empty() ? "no created response" : w.error);
  else if (!w.error.empty())
    note("cancelled_or_stream_error", w.error);

  // Expected revisions of this watcher.
  std::vector<Revision> exp;
  for (const auto& r : all) {
    Revision mine{r.rev, {}};
    for (const auto& e : r.evs) {
      if (!w.spec.matches(e.kv.key)) continue;
      Ev x = e;  // the model gives a prev only where etcd attaches one (not on a creation)
      if (!w.spec.prev_kv) {
        x.has_prev = false;
        x.prev = Kv{};
      }
      mine.evs.push_back(std::move(x));
    }
    if (!mine.evs.empty()) {
      *expected_events += int64_t(mine.evs.size());
      exp.push_back(std::move(mine));
    }
  }
  std::vector<int> got(exp.size(), 0);
  auto find = [&](int64_t rev) -> long {
    auto it = std::lower_bound(exp.begin(), exp.end(), rev,
                               [](const Revision& r, int64_t v) { return r.rev < v; });
    return it != exp.end() && it->rev == rev ? long(it - exp.begin()) : -1;
  };
  int64_t last = 0;
  for (size_t ri = 0; ri < w.responses.size(); ++ri) {
    const auto& resp = w.responses[ri];
    *received_events += int64_t(resp.size());
    if (w.header_revs[ri] < resp.back().kv.mod)
      note("header_revision", "response header revision " + std::to_string(w.header_revs[ri]) +
                                  " below its last event's revision " +
                                  std::to_string(resp.back().kv.mod));
    size_t i = 0;
    while (i < resp.size()) {
      const int64_t rev = resp[i].kv.mod;
      size_t j = i;
      while (j < resp.size() && resp[j].kv.mod == rev) ++j;
      const std::vector<Ev> group(resp.begin() + long(i), resp.begin() + long(j));
      // Revisions in one response and across responses only go up.
      if (rev < last && !(find(rev) >= 0 && got[size_t(find(rev))] > 0))
        note("order", "revision " + std::to_string(rev) + " after revision " +
                          std::to_string(last) + " (response " + std::to_string(ri) + ")");
      const long idx = find(rev);
      if (idx < 0) {
        note("unexpected", "event(s) at revision " + std::to_string(rev) +
                               " this watcher does not cover, e.g. " + describe(group[0]));
      } else {
        const auto& want = exp[size_t(idx)].evs;
        if (got[size_t(idx)] > 0) {
          // Seen before: a split revision if the two parts add up, else a duplicate.
          if (rev == last && group.size() < want.size())
            note("split",
                 "revision " + std::to_string(rev) + " spread over more than one response");
          else
            note("duplicate", "revision " + std::to_string(rev) + " delivered again (response " +
                                  std::to_string(ri) + "): " + describe(group[0]));
        } else if (group.size() < want.size() &&
                   std::equal(group.begin(), group.end(), want.begin())) {
          note("split", "revision " + std::to_string(rev) + ": only " +
                            std::to_string(group.size()) + " of its " +
                            std::to_string(want.size()) + " events in response " +
                            std::to_string(ri));
        } else if (group != want) {
          std::string detail;
          for (size_t k = 0; k < std::max(group.size(), want.size()); ++k) {
            if (k >= group.size() || k >= want.size() || !(group[k] == want[k])) {
              detail = "event " + std::to_string(k) + ": want " +
                       (k < want.size() ? describe(want[k]) : "(none)") + "; got " +
                       (k < group.size() ? describe(group[k]) : "(none)");
              break;
            }
          }
          note("kv_mismatch", "revision " + std::to_string(rev) + " (" +
                                  std::to_string(group.size()) + " events, want " +
                                  std::to_string(want.size()) + "): " + detail);
        }
        ++got[size_t(idx)];
      }
      last = std::max(last, rev);
      i = j;
    }
  }
  size_t missing = 0;
  int64_t first_missing = 0;
  for (size_t k = 0; k < exp.size(); ++k) {
    if (got[k] == 0) {
      if (missing++ == 0) first_missing = exp[k].rev;
    }
  }
  if (missing > 0)
    note("missing", std::to_string(missing) + " of " + std::to_string(exp.size()) +
                        " expected revisions never delivered, the first " +
                        std::to_string(first_missing));
  return fail;
}

// --inject: one fault in one watcher's recorded responses, so a run shows which check catches it.
void inject_fault(const std::string& fault, const std::vector<std::unique_ptr<Watcher>>& watchers) {
  for (const auto& w : watchers) {
    auto& rs = w->responses;
    if (rs.size() < 3) continue;
    if (fault == "split") {
      for (size_t i = 0; i < rs.size(); ++i) {
        if (rs[i].size() < 2 || rs[i][0].kv.mod != rs[i][1].kv.mod) continue;
        std::vector<Ev> tail(rs[i].begin() + 1, rs[i].end());
        rs[i].resize(1);
        rs.insert(rs.begin() + long(i) + 1, tail);
        w->header_revs.insert(w->header_revs.begin() + long(i) + 1, w->header_revs[i]);
        std::fprintf(stderr, "inject split: watcher %d response %zu\n", w->global, i);
        return;
      }
      continue;
    }
    auto& hs = w->header_revs;
    if (fault == "drop") {
      rs.erase(rs.begin() + 1);
      hs.erase(hs.begin() + 1);
    } else if (fault == "dup") {
      const auto copy = rs[1];
      rs.insert(rs.begin() + 1, copy);
      hs.insert(hs.begin() + 1, hs[1]);
    } else if (fault == "reorder") {
      std::swap(rs[1], rs[2]);
      std::swap(hs[1], hs[2]);
    } else if (fault == "corrupt") {
      rs[1][0].kv.value += "x";
    } else {
      usage("unknown --inject " + fault);
    }
    std::fprintf(stderr, "inject %s: watcher %d response 1\n", fault.c_str(), w->global);
    return;
  }
}

}  // namespace

int run_fanout(const Args& a) {
  std::vector<std::shared_ptr<grpc::Channel>> ep_channels;
  for (size_t i = 0; i < a.endpoints.size(); ++i)
    ep_channels.push_back(make_channel(a.endpoints[i], int(i)));
  std::string err;
  const int64_t start_rev = current_revision(ep_channels, &err);
  if (start_rev < 0) {
    std::printf("{\"ok\": false, \"error\": %s}\n",
                json_str("no endpoint answered a Range: " + err).c_str());
    return 0;
  }

  // Streams and watchers.
  std::vector<std::unique_ptr<FanoutStream>> streams;
  std::vector<std::unique_ptr<Watcher>> watchers;
  std::vector<GroupResult> groups;
  const int keys = a.keys;
  int conn_id = 100;
  for (const auto& g : a.groups) {
    const auto parts = split(g, ':');
    if (parts.size() != 4) usage("bad --group " + g);
    GroupResult gr;
    gr.name = parts[0];
    gr.streams = parse_int("--group streams", parts[1]);
    const int per = parse_int("--group watchers per stream", parts[2]);
    const auto eps = parse_indexes(parts[3], a.endpoints.size());
    for (int s = 0; s < gr.streams; ++s) {
      auto st = std::make_unique<FanoutStream>();
      st->index = s;
      st->group = gr.name;
      st->endpoint = a.endpoints[size_t(eps[size_t(s) % eps.size()])];
      st->channel = make_channel(st->endpoint, conn_id++);
      st->stub = Watch::NewStub(st->channel);
      for (int k = 0; k < per; ++k) {
        auto w = std::make_unique<Watcher>();
        const int gi = int(watchers.size());
        w->global = gi;
        w->group = gr.name;
        w->stream = s;
        std::string kind;
        const int m = gi % 10;
        if (m <= 3) {
          w->spec.key = Writer::key_of(a.prefix, (gi * 7) % keys);
          kind = "key";
        } else if (m <= 6) {
          char buf[16];
          std::snprintf(buf, sizeof buf, "%02d", gi % (keys / 10));
          w->spec.key = a.prefix + buf;
          w->spec.end = w->spec.key;
          w->spec.end.back()++;
          kind = "prefix10";
        } else {
          const int start = (gi * 13) % (keys - 25);
          w->spec.key = Writer::key_of(a.prefix, start);
          w->spec.end = Writer::key_of(a.prefix, start + 25);
          kind = "range25";
          if (m == 9) {
            w->spec.prev_kv = true;
            kind = "range25-prev_kv";
            if ((gi / 10) % 20 == 0) {
              w->spec.key = a.prefix;
              w->spec.end = a.prefix;
              w->spec.end.back()++;
              kind = "all-prev_kv";
            }
          }
        }
        ++gr.kinds[kind];
        st->watchers.push_back(w.get());
        watchers.push_back(std::move(w));
      }
      streams.push_back(std::move(st));
    }
    gr.watchers = gr.streams * per;
    groups.push_back(gr);
  }

  const auto t0 = Clock::now();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.timeout_s));
  for (auto& s : streams) {
    s->rw = s->stub->Watch(&s->ctx);
    s->reader = std::thread(read_stream, s.get());
  }
  // All create requests, stream by stream (each stream's creates back to back, pipelined).
  for (auto& s : streams) {
    for (Watcher* w : s->watchers) {
      etcdserverpb::WatchRequest req;
      auto* c = req.mutable_create_request();
      c->set_key(w->spec.key);
      c->set_range_end(w->spec.end);
      c->set_start_revision(start_rev + 1);
      c->set_prev_kv(w->spec.prev_kv);
      if (!s->rw->Write(req)) break;  // the stream is gone; its reader reports why
    }
  }
  const int total = int(watchers.size());
  while (g_created.load() < total && Clock::now() < deadline) {
    bool all_ended = true;
    for (auto& s : streams) all_ended = all_ended && s->ended.load();
    if (all_ended) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double create_seconds = since(t0);

  // Writers, their models starting from the key set as it is at start_rev.
  std::map<std::string, Kv> initial;
  {
    auto kv = KV::NewStub(ep_channels[0]);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    etcdserverpb::RangeRequest req;
    req.set_key(a.prefix);
    std::string end = a.prefix;
    end.back()++;
    req.set_range_end(end);
    req.set_revision(start_rev);
    etcdserverpb::RangeResponse resp;
    const grpc::Status st = kv->Range(&ctx, req, &resp);
    if (!st.ok()) {
      std::printf("{\"ok\": false, \"error\": %s}\n",
                  json_str("Range of the key set: " + st.error_message()).c_str());
      return 0;
    }
    for (const auto& k : resp.kvs()) initial[k.key()] = from_pb(k);
  }
  std::vector<std::unique_ptr<Writer>> writers;
  std::atomic<bool> stop_writers{false};
  for (int w = 0; w < a.writers; ++w) {
    const int ops = a.writes / a.writers + (w < a.writes % a.writers ? 1 : 0);
    const auto& ep = a.endpoints[size_t(a.writer_endpoints[size_t(w) % a.writer_endpoints.size()])];
    writers.push_back(std::make_unique<Writer>(w, a, make_channel(ep, 10 + w), ops, initial));
  }
  const auto tw = Clock::now();
  std::vector<std::thread> wthreads;
  if (g_created.load() == total) {
    for (auto& w : writers) wthreads.emplace_back([&w, &stop_writers] { w->run(stop_writers); });
  }
  for (auto& t : wthreads) t.join();
  const double write_seconds = since(tw);

  // Every revision of every writer, merged.
  std::vector<Revision> all;
  std::string write_error;
  int writes_done = 0;
  std::map<std::string, int> op_counts;
  for (auto& w : writers) {
    writes_done += w->done;
    if (write_error.empty() && !w->error.empty()) write_error = w->error;
    for (auto& [k, v] : w->op_counts) op_counts[k] += v;
    for (auto& r : w->revisions) all.push_back(r);
  }
  std::sort(all.begin(), all.end(),
            [](const Revision& x, const Revision& y) { return x.rev < y.rev; });
  for (size_t i = 1; i < all.size(); ++i)
    if (all[i].rev == all[i - 1].rev && write_error.empty())
      write_error = "two writes answered with the same revision " + std::to_string(all[i].rev);
  int64_t events_written = 0;
  for (const auto& r : all) events_written += int64_t(r.evs.size());
  const int64_t last_rev = all.empty() ? start_rev : all.back().rev;

  // Wait for every watcher's last expected revision.
  for (auto& w : watchers) {
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (std::any_of(it->evs.begin(), it->evs.end(),
                      [&](const Ev& e) { return w->spec.matches(e.kv.key); })) {
        w->last_expected = it->rev;
        break;
      }
    }
  }
  const auto tc = Clock::now();
  while (Clock::now() < deadline) {
    bool done = true;
    for (auto& s : streams) {
      if (s->ended.load()) continue;
      for (Watcher* w : s->watchers)
        if (w->created && w->last_rev.load() < w->last_expected) done = false;
    }
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double catch_up_seconds = since(tc);

  // Barrier: one progress request per stream; its answer comes after what was queued before.
  for (auto& s : streams) {
    etcdserverpb::WatchRequest req;
    req.mutable_progress_request();
    s->rw->Write(req);
  }
  const auto barrier_deadline = std::min(deadline, Clock::now() + std::chrono::seconds(5));
  while (Clock::now() < barrier_deadline) {
    bool done = true;
    for (auto& s : streams) done = done && (s->ended.load() || s->progress.load() > 0);
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& s : streams) {
    s->closing.store(true);
    s->ctx.TryCancel();
  }
  for (auto& s : streams) s->reader.join();

  if (!a.inject.empty()) inject_fault(a.inject, watchers);

  // Checks.
  std::vector<std::string> failures;
  std::map<std::string, GroupResult*> by_name;
  for (auto& g : groups) by_name[g.name] = &g;
  for (auto& s : streams) {
    GroupResult& g = *by_name[s->group];
    if (!s->error.empty()) {
      ++g.checks["cancelled_or_stream_error"];
      if (failures.size() < 30)
        failures.push_back(s->group + " stream " + std::to_string(s->index) + " (" + s->endpoint +
                           "): " + s->error);
    }
    for (Watcher* w : s->watchers) {
      g.responses += int64_t(w->responses.size());
      const auto fails = check_watcher(*w, all, &g.expected, &g.received);
      if (fails.empty() && s->error.empty()) ++g.watchers_ok;
      for (const auto& [check, msg] : fails) {
        ++g.checks[check];
        if (failures.size() < 30)
          failures.push_back(s->group + " stream " + std::to_string(s->index) + " (" + s->endpoint +
                             ") watcher " + std::to_string(w->global) + " (" + w->spec.describe() +
                             ") " + check + ": " + msg);
      }
    }
  }
  bool ok = write_error.empty() && writes_done == a.writes && g_created.load() == total;
  for (auto& g : groups) ok = ok && g.watchers_ok == g.watchers && g.expected == g.received;

  std::ostringstream o;
  o << "{\"ok\": " << (ok ? "true" : "false") << ", \"start_rev\": " << start_rev
    << ", \"last_rev\": " << last_rev << ", \"writes\": " << writes_done
    << ", \"writes_wanted\": " << a.writes << ", \"write_error\": " << json_str(write_error)
    << ", \"revisions\": " << all.size() << ", \"events_written\": " << events_written
    << ", \"ops\": {";
  bool first = true;
  for (auto& [k, v] : op_counts) {
    o << (first ? "" : ", ") << json_str(k) << ": " << v;
    first = false;
  }
  o << "}, \"watchers\": " << total << ", \"created\": " << g_created.load()
    << ", \"refused\": " << g_refused.load() << ", \"create_seconds\": " << create_seconds
    << ", \"write_seconds\": " << write_seconds << ", \"catch_up_seconds\": " << catch_up_seconds
    << ", \"groups\": [";
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    o << (i ? ", " : "") << "{\"name\": " << json_str(g.name) << ", \"streams\": " << g.streams
      << ", \"watchers\": " << g.watchers << ", \"watchers_ok\": " << g.watchers_ok
      << ", \"events_expected\": " << g.expected << ", \"events_received\": " << g.received
      << ", \"responses\": " << g.responses << ", \"kinds\": {";
    first = true;
    for (auto& [k, v] : g.kinds) {
      o << (first ? "" : ", ") << json_str(k) << ": " << v;
      first = false;
    }
    o << "}, \"failed_checks\": {";
    first = true;
    for (const char* c : kChecks) {
      o << (first ? "" : ", ") << json_str(c) << ": " << (g.checks.count(c) ? g.checks.at(c) : 0);
      first = false;
    }
    o << "}}";
  }
  o << "], \"failures\": [";
  for (size_t i = 0; i < failures.size(); ++i) o << (i ? ", " : "") << json_str(failures[i]);
  o << "]}";
  std::printf("%s\n", o.str().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace outpost::watch_tool
