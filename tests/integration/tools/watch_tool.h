// outpost-watch-fanout: many watchers over few or many Watch streams, checked against writes the
// tool makes itself. Used by tests/integration/test_cluster_watch.py; speaks the etcd v3 API, so
// it runs against real etcd as well as Outpost.
//
// fanout: every watcher must see every expected event exactly once, in revision order, all
// events of one revision in one response, with the full KeyValue (and prev_kv when asked).
//
//   outpost-watch-fanout fanout --endpoints A,B,C --group NAME:STREAMS:PER_STREAM:EPS ...
//       [--writes 10000] [--writers 6] [--keys 300] [--prefix wf/] [--writer-endpoints 0,1,2]
//       [--seed 1] [--timeout 120] [--inject drop|dup|reorder|corrupt|split]
//
//   EPS is a comma list of endpoint indexes; stream s of a group goes to EPS[s mod |EPS|]. The
//   watchers are created (start revision = current + 1), then the writer threads run: writer w
//   owns keys [w*B, (w+1)*B) of the key set (B = keys/writers) and makes puts, single deletes,
//   range deletes and txns (compare on a version, puts and a delete in the success branch, a put
//   in the failure branch) on them, keeping a model of its keys. From the write responses'
//   revisions and the models the tool knows every event the server must emit. Once every watcher
//   has got its last expected revision (or --timeout), a progress request goes down every
//   stream (a barrier for stragglers), the streams are closed, and each watcher's responses are
//   checked. Watcher kinds, by global watcher index g: g%10 in 0..3 one key, 4..6 a prefix of 10
//   keys, 7..8 a range of 25 keys, 9 a range of 25 keys with prev_kv (every 20th of those: the
//   whole key set with prev_kv). Prints one JSON object: counts per group, for each check the
//   number of watchers failing it, and the first failures in words. --inject alters one
//   watcher's recorded responses before the checks (drop an event, repeat or reorder a response,
//   change a value, split a revision over two responses), to show the checks catch it.
//
// follow: watchers that survive member failures, and writers that keep writing through them.
//
//   outpost-watch-fanout follow --endpoints A,B,C --watcher NAME:EPS[:require-leader] ...
//       [--writers 2] [--writer-endpoints 1,2] [--prefix lk/] [--timeout 120]
//
//   Each watcher watches the prefix from (current revision + 1) on EPS[0]; when its stream ends
//   or the server cancels it, it re-creates the watch on the next endpoint of EPS with
//   start_revision = last seen revision + 1 (as clientv3 does). require-leader sends clientv3's
//   WithRequireLeader metadata (hasleader=true). Writers put PREFIXw<w>/<seq> = v<w>.<seq> (a fresh
//   key per attempt), moving to the next endpoint on a failure. Prints JSON lines on stdout:
//   {"ready": ...} once every watcher is created, {"status": ...} every 200 ms; after the line
//   "stop" on stdin the writers stop, the current revision is read (linearizable, any endpoint),
//   every watcher is given until --timeout to reach it, and {"result": ...} ends the output.
//
// Exit status: 0 the run completed (the JSON says whether every check passed), 2 usage error.
//
// Files: watch_tool.h/.cc (arguments, channels, JSON, the event model, main), watch_fanout.cc,
// watch_follow.cc.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace outpost::watch_tool {

using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;

inline double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A JSON string literal (quotes, backslashes and non-printable bytes escaped).
std::string json_str(const std::string& s);
std::vector<std::string> split(const std::string& s, char sep);

// A channel of its own (its own TCP connection: `id` keeps gRPC from sharing one), no retries,
// large messages allowed, quick reconnects.
std::shared_ptr<grpc::Channel> make_channel(const std::string& endpoint, int id);

struct Args {
  std::string mode;
  std::vector<std::string> endpoints;
  std::vector<std::string> groups;    // fanout
  std::vector<std::string> watchers;  // follow
  std::vector<int> writer_endpoints;
  int writes = 10000, writers = 6, keys = 300, seed = 1;
  double timeout_s = 120;
  std::string prefix;
  std::string inject;  // fanout: a fault put into the recorded responses (checks the checks)
};

[[noreturn]] void usage(const std::string& why);
Args parse_args(int argc, char** argv);
// "0,2" -> {0, 2}, each < n; usage() on anything else.
std::vector<int> parse_indexes(const std::string& s, size_t n);
int parse_int(const std::string& flag, const std::string& v);

// The current revision, from a linearizable Range on the first of `channels` that answers
// (tried in turn for a few seconds); -1 and *err if none did.
int64_t current_revision(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                         std::string* err);

// One event as the tool models and records it.
struct Kv {
  std::string key, value;
  int64_t create = 0, mod = 0, version = 0, lease = 0;
  bool operator==(const Kv&) const = default;
};

struct Ev {
  int type = 0;  // mvccpb PUT 0, DELETE 1
  Kv kv;
  bool has_prev = false;
  Kv prev;
  bool operator==(const Ev&) const = default;
};

Kv from_pb(const mvccpb::KeyValue& k);
Ev from_pb(const mvccpb::Event& e);
std::string describe(const Kv& k);
std::string describe(const Ev& e);

int run_fanout(const Args& a);
int run_follow(const Args& a);

}  // namespace outpost::watch_tool
