// outpost-nemesis-client: the workload client of the nemesis harness (issue 15). It speaks the
// etcd v3 gRPC API (so it runs against real etcd as well as Outpost), runs the register, set,
// watch and lease workloads for --time seconds, writes every operation it makes to a history
// (JSON lines, the format of history.py), then in a final phase reads the store's final state
// (final range, reference event list, the set's read_all, each watcher's watch_end) so the
// checkers (check.py) can judge the run. See README.md in this directory for the flags, the
// error classification and the record formats.
//
//   outpost-nemesis-client --endpoints H:P,H:P,... [--time 60] [--register-clients 4]
//       [--registers 3] [--set-clients 2] [--watchers 2] [--lease-clients 2]
//       [--op-timeout-ms 1000] [--seed 1] --history FILE [--reference FILE] [--final FILE]
//       [--wait-stdin] [--final-timeout 60]
//
// Exit status: 0 the final phase completed, 2 it could not (no member answered, the reference
// could not be read), 1 usage error. The last line on stdout is a JSON summary.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace outpost::nemesis {
namespace {

using SteadyClock = std::chrono::steady_clock;
using WatchStream =
    grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;

// Process id bases of the workloads (history.py "process").
constexpr int kSetBase = 1000;
constexpr int kWatchBase = 2000;
constexpr int kLeaseBase = 3000;
constexpr int64_t kLeaseTtlAsked = 3;  // seconds; the server may raise it to its minimum

// Monotonic nanoseconds, the clock of history.py (CLOCK_MONOTONIC, as Python's monotonic_ns).
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

void sleep_ms(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// ---------------------------------------------------------------------------------------------
// Arguments.

struct Args {
  std::vector<std::string> endpoints;
  double time_s = 60;
  int register_clients = 4, registers = 3, set_clients = 2, watchers = 2, lease_clients = 2;
  int op_timeout_ms = 1000;
  uint64_t seed = 1;
  std::string history, reference, final_path;
  bool wait_stdin = false;
  double final_timeout_s = 60;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "outpost-nemesis-client: %s\n"
               "usage: outpost-nemesis-client --endpoints H:P,H:P,... --history FILE\n"
               "    [--time S] [--register-clients N] [--registers K] [--set-clients N]\n"
               "    [--watchers N] [--lease-clients N] [--op-timeout-ms MS] [--seed S]\n"
               "    [--reference FILE] [--final FILE] [--wait-stdin] [--final-timeout S]\n",
               why.c_str());
  std::exit(1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

int64_t parse_int(const std::string& flag, const std::string& v, int64_t min) {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < min)
    usage(flag + " needs an integer >= " + std::to_string(min) + ", got " + v);
  return x;
}

double parse_seconds(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(x >= 0)) usage(flag + " needs seconds >= 0, got " + v);
  return x;
}

std::string strip_scheme(const std::string& e) {
  const auto p = e.find("://");
  return p == std::string::npos ? e : e.substr(p + 3);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    if (f == "--wait-stdin") {
      a.wait_stdin = true;
      continue;
    }
    if (f == "-h" || f == "--help") usage("help");
    if (i + 1 >= argc) usage(f + " needs a value");
    const std::string v = argv[++i];
    if (f == "--endpoints") {
      for (const auto& e : split(v, ',')) a.endpoints.push_back(strip_scheme(e));
    } else if (f == "--time") {
      a.time_s = parse_seconds(f, v);
    } else if (f == "--register-clients") {
      a.register_clients = int(parse_int(f, v, 0));
    } else if (f == "--registers") {
      a.registers = int(parse_int(f, v, 1));
    } else if (f == "--set-clients") {
      a.set_clients = int(parse_int(f, v, 0));
    } else if (f == "--watchers") {
      a.watchers = int(parse_int(f, v, 0));
    } else if (f == "--lease-clients") {
      a.lease_clients = int(parse_int(f, v, 0));
    } else if (f == "--op-timeout-ms") {
      a.op_timeout_ms = int(parse_int(f, v, 1));
    } else if (f == "--seed") {
      a.seed = uint64_t(parse_int(f, v, 0));
    } else if (f == "--history") {
      a.history = v;
    } else if (f == "--reference") {
      a.reference = v;
    } else if (f == "--final") {
      a.final_path = v;
    } else if (f == "--final-timeout") {
      a.final_timeout_s = parse_seconds(f, v);
    } else {
      usage("unknown flag " + f);
    }
  }
  if (a.endpoints.empty()) usage("--endpoints is required");
  if (a.history.empty()) usage("--history is required");
  if (a.register_clients > 999 || a.set_clients > 999 || a.watchers > 999 || a.lease_clients > 999)
    usage("at most 999 clients per workload");
  return a;
}

// ---------------------------------------------------------------------------------------------
// JSON: one record per line, built by hand (keys and values are ASCII here; any other byte is
// escaped as \u00XX so a stray byte never breaks the line).

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

class Json {
 public:
  Json& num(const char* k, int64_t v) { return raw(k, std::to_string(v)); }
  Json& str(const char* k, const std::string& v) { return raw(k, json_str(v)); }
  Json& opt_str(const char* k, const std::optional<std::string>& v) {
    return raw(k, v ? json_str(*v) : "null");
  }
  Json& null(const char* k) { return raw(k, "null"); }
  Json& boolean(const char* k, bool v) { return raw(k, v ? "true" : "false"); }
  Json& raw(const char* k, const std::string& v) {
    s_ += first_ ? "" : ",";
    first_ = false;
    s_ += json_str(k);
    s_ += ':';
    s_ += v;
    return *this;
  }
  std::string line() const { return s_ + "}\n"; }

 private:
  std::string s_ = "{";
  bool first_ = true;
};

// An append-only JSON-lines file: each line is one write(2) on an O_APPEND descriptor, so lines
// never interleave (with each other or with another appender) and a crash loses at most the
// record being written.
class LineFile {
 public:
  bool open(const std::string& path, bool truncate) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | (truncate ? O_TRUNC : 0), 0644);
    return fd_ >= 0;
  }
  ~LineFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "outpost-nemesis-client: write failed: %s\n", std::strerror(errno));
        return;
      }
      done += size_t(n);
    }
  }

 private:
  std::mutex mu_;
  int fd_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Error classification (README.md "Error classification"): fail = certainly not applied,
// info = may have been applied. Reads are only ever ok or info (an info read is dropped).

bool certainly_not_applied(const grpc::Status& st) {
  const std::string& m = st.error_message();
  if (m.find("too many requests") != std::string::npos) return true;
  if (m.find("request is too large") != std::string::npos) return true;
  switch (st.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:     // validation, before any proposal
    case grpc::StatusCode::FAILED_PRECONDITION:  // e.g. not capable, lease provided
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::NOT_FOUND:  // lease not found: the put is rejected, not applied
      return true;
    default: return false;
  }
}

const char* outcome_of(const grpc::Status& st, bool mutation) {
  if (st.ok()) return "ok";
  return mutation && certainly_not_applied(st) ? "fail" : "info";
}

// "CODE: message", recorded as "error" of fail / info operations.
std::string describe(const grpc::Status& st) {
  static const char* const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  const int c = int(st.error_code());
  const std::string name = c >= 0 && c <= 16 ? names[c] : std::to_string(c);
  return name + ": " + st.error_message();
}

// Errors after which a client moves on to the next endpoint.
bool endpoint_error(const grpc::Status& st) {
  const auto c = st.error_code();
  return c == grpc::StatusCode::UNAVAILABLE || c == grpc::StatusCode::DEADLINE_EXCEEDED ||
         c == grpc::StatusCode::CANCELLED || c == grpc::StatusCode::UNKNOWN ||
         c == grpc::StatusCode::INTERNAL;
}

// ---------------------------------------------------------------------------------------------
// Shared state.

struct Counters {
  std::atomic<int64_t> ops{0}, ok{0}, fail{0}, info{0};
  void count(const std::string& outcome) {
    ++ops;
    if (outcome == "ok")
      ++ok;
    else if (outcome == "fail")
      ++fail;
    else
      ++info;
  }
};

struct Shared {
  Args args;
  LineFile history;
  std::atomic<bool> stop_workers{false};
  std::atomic<bool> stop_watchers{false};
  Counters registers, set, leases;
  std::atomic<int64_t> watch_events{0};
};

// A channel of its own (its own TCP connection), no retries, quick reconnects.
std::shared_ptr<grpc::Channel> make_channel(const std::string& endpoint, int id) {
  grpc::ChannelArguments ch;
  ch.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  ch.SetInt("outpost.nemesis.conn_id", id);
  ch.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 256 << 20);
  ch.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  ch.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  ch.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  ch.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), ch);
}

// One client's view of the cluster: a channel per endpoint (made on first use), the current one
// chosen round robin by client id, the next one after an endpoint error.
class Conn {
 public:
  Conn(const std::vector<std::string>& endpoints, int id)
      : endpoints_(endpoints),
        channels_(endpoints.size()),
        id_(id),
        cur_(size_t(id) % endpoints.size()) {}

  std::shared_ptr<grpc::Channel> channel() {
    if (!channels_[cur_]) channels_[cur_] = make_channel(endpoints_[cur_], id_);
    return channels_[cur_];
  }
  std::unique_ptr<etcdserverpb::KV::Stub> kv() { return etcdserverpb::KV::NewStub(channel()); }
  std::unique_ptr<etcdserverpb::Lease::Stub> lease() {
    return etcdserverpb::Lease::NewStub(channel());
  }
  std::unique_ptr<etcdserverpb::Watch::Stub> watch() {
    return etcdserverpb::Watch::NewStub(channel());
  }
  void next() { cur_ = (cur_ + 1) % endpoints_.size(); }
  // Moves on after an endpoint error; true if it did (the caller then backs off a little).
  bool after(const grpc::Status& st) {
    if (st.ok() || !endpoint_error(st)) return false;
    next();
    return true;
  }
  const std::string& endpoint() const { return endpoints_[cur_]; }

 private:
  std::vector<std::string> endpoints_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  int id_;
  size_t cur_;
};

void set_deadline(grpc::ClientContext* ctx, int ms) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

// The whole keyspace, as etcdctl's `--prefix ""`: key "\0", range_end "\0" (every key >= "\0").
const std::string kAllKeys(1, '\0');

// ---------------------------------------------------------------------------------------------
// (a) registers: read / write / cas on keys r0..r{K-1}.

void register_client(Shared& sh, int process) {
  const Args& a = sh.args;
  std::mt19937_64 rng(a.seed * 1000003 + uint64_t(process) * 7919 + 1);
  Conn conn(a.endpoints, process);
  std::vector<std::optional<std::string>> known(size_t(a.registers));  // last value read/written
  int64_t counter = 0;
  while (!sh.stop_workers.load()) {
    const size_t k = size_t(rng() % uint64_t(a.registers));
    const std::string key = "r" + std::to_string(k);
    const int kind = int(rng() % 3);
    grpc::ClientContext ctx;
    set_deadline(&ctx, a.op_timeout_ms);
    grpc::Status st;
    const int64_t invoke = now_ns();
    Json j;
    j.num("process", process);
    if (kind == 0) {
      etcdserverpb::RangeRequest req;
      req.set_key(key);
      etcdserverpb::RangeResponse resp;
      st = conn.kv()->Range(&ctx, req, &resp);
      const int64_t complete = now_ns();
      j.str("f", "read").str("key", key);
      if (st.ok()) {
        std::optional<std::string> v;
        if (resp.kvs_size() > 0) v = resp.kvs(0).value();
        known[k] = v;
        j.opt_str("value", v).num("invoke", invoke).num("complete", complete);
        j.str("outcome", "ok").num("revision", resp.header().revision());
      } else {
        j.null("value").num("invoke", invoke).null("complete").str("outcome", "info");
        j.str("error", describe(st));
      }
      sh.registers.count(st.ok() ? "ok" : "info");
    } else {
      const std::string value = std::to_string(process) + "-" + std::to_string(++counter);
      const char* outcome = "info";
      int64_t revision = -1;
      std::optional<bool> succeeded;
      std::optional<std::optional<std::string>> observed;  // cas failure branch: value read
      if (kind == 1) {
        etcdserverpb::PutRequest req;
        req.set_key(key);
        req.set_value(value);
        etcdserverpb::PutResponse resp;
        st = conn.kv()->Put(&ctx, req, &resp);
        if (st.ok()) revision = resp.header().revision();
        j.str("f", "write").str("key", key).str("value", value);
      } else {
        etcdserverpb::TxnRequest req;
        auto* c = req.add_compare();
        c->set_key(key);
        c->set_result(etcdserverpb::Compare::EQUAL);
        if (known[k]) {
          c->set_target(etcdserverpb::Compare::VALUE);
          c->set_value(*known[k]);
        } else {
          c->set_target(etcdserverpb::Compare::CREATE);
          c->set_create_revision(0);
        }
        auto* put = req.add_success()->mutable_request_put();
        put->set_key(key);
        put->set_value(value);
        req.add_failure()->mutable_request_range()->set_key(key);
        etcdserverpb::TxnResponse resp;
        st = conn.kv()->Txn(&ctx, req, &resp);
        if (st.ok()) {
          revision = resp.header().revision();
          succeeded = resp.succeeded();
          if (!resp.succeeded()) {
            std::optional<std::string> v;
            if (resp.responses_size() > 0 && resp.responses(0).response_range().kvs_size() > 0)
              v = resp.responses(0).response_range().kvs(0).value();
            observed = v;
          }
        }
        j.str("f", "cas").str("key", key).opt_str("expected", known[k]).str("value", value);
      }
      const int64_t complete = now_ns();
      outcome = outcome_of(st, true);
      j.num("invoke", invoke);
      if (st.ok())
        j.num("complete", complete);
      else if (std::string(outcome) == "fail")
        j.num("complete", complete);
      else
        j.null("complete");
      j.str("outcome", outcome);
      if (!st.ok()) j.str("error", describe(st));
      if (st.ok()) {
        j.num("revision", revision);
        if (succeeded) j.boolean("succeeded", *succeeded);
        if (!succeeded || *succeeded) known[k] = value;
      }
      sh.registers.count(outcome);
      if (observed) {
        // The failure branch's Range ran at the Txn's point: record it as a read (same
        // interval, same revision) and remember its value for the next compare.
        known[k] = *observed;
        sh.history.write(j.line());
        Json r;
        r.num("process", process).str("f", "read").str("key", key).opt_str("value", *observed);
        r.num("invoke", invoke).num("complete", complete).str("outcome", "ok");
        r.num("revision", revision);
        sh.history.write(r.line());
        sh.registers.count("ok");
        if (!sh.stop_workers.load()) sleep_ms(int64_t(rng() % 6));
        continue;
      }
    }
    sh.history.write(j.line());
    if (conn.after(st)) sleep_ms(20);
    sleep_ms(int64_t(rng() % 6));
  }
}

// ---------------------------------------------------------------------------------------------
// (b) set: unique elements put as keys s/<elem> (value: the element's decimal text).

void set_client(Shared& sh, int process) {
  const Args& a = sh.args;
  std::mt19937_64 rng(a.seed * 1000003 + uint64_t(process) * 7919 + 2);
  Conn conn(a.endpoints, process);
  int64_t counter = 0;
  while (!sh.stop_workers.load()) {
    const int64_t elem = int64_t(process) * 1000000 + ++counter;
    etcdserverpb::PutRequest req;
    req.set_key("s/" + std::to_string(elem));
    req.set_value(std::to_string(elem));
    etcdserverpb::PutResponse resp;
    grpc::ClientContext ctx;
    set_deadline(&ctx, a.op_timeout_ms);
    const int64_t invoke = now_ns();
    const grpc::Status st = conn.kv()->Put(&ctx, req, &resp);
    const int64_t complete = now_ns();
    const char* outcome = outcome_of(st, true);
    Json j;
    j.num("process", process).str("f", "add").str("key", "set").num("value", elem);
    j.num("invoke", invoke);
    if (st.ok() || std::string(outcome) == "fail")
      j.num("complete", complete);
    else
      j.null("complete");
    j.str("outcome", outcome);
    if (!st.ok()) j.str("error", describe(st));
    if (st.ok()) j.num("revision", resp.header().revision());
    sh.history.write(j.line());
    sh.set.count(outcome);
    if (conn.after(st)) sleep_ms(20);
    sleep_ms(int64_t(rng() % 6));
  }
}

// ---------------------------------------------------------------------------------------------
// (d) leases: grant, put a key with the lease, then keep it alive and read the key (then revoke)
// or abandon it and poll the key until it is gone.

class LeaseClient {
 public:
  LeaseClient(Shared& sh, int process)
      : sh_(sh),
        a_(sh.args),
        process_(process),
        rng_(a_.seed * 1000003 + uint64_t(process) * 7919 + 3),
        conn_(a_.endpoints, process) {}

  void run() {
    int64_t n = 0;
    while (!sh_.stop_workers.load()) {
      ++n;
      const bool keep = rng_() % 2 == 0;
      int64_t id = 0, ttl = 0;
      if (!grant(keep, &id, &ttl)) {
        sleep_ms(50);
        continue;
      }
      const std::string key = "l/" + std::to_string(process_) + "-" + std::to_string(n);
      put(key, id);
      if (keep)
        keep_alive(key, id, ttl);
      else
        abandon(key, id, ttl);
    }
  }

 private:
  // Common ending of a record: invoke, complete (null when info), outcome.
  void finish(Json& j, int64_t invoke, const grpc::Status& st, bool mutation) {
    const int64_t complete = now_ns();
    const char* outcome = outcome_of(st, mutation);
    j.num("invoke", invoke);
    if (st.ok() || std::string(outcome) == "fail")
      j.num("complete", complete);
    else
      j.null("complete");
    j.str("outcome", outcome);
    if (!st.ok()) j.str("error", describe(st));
    sh_.leases.count(outcome);
  }

  void record(const Json& j, const grpc::Status& st) {
    sh_.history.write(j.line());
    if (conn_.after(st)) sleep_ms(20);
  }

  bool grant(bool keep, int64_t* id, int64_t* ttl) {
    etcdserverpb::LeaseGrantRequest req;
    req.set_ttl(kLeaseTtlAsked);
    etcdserverpb::LeaseGrantResponse resp;
    grpc::ClientContext ctx;
    set_deadline(&ctx, a_.op_timeout_ms);
    const int64_t invoke = now_ns();
    grpc::Status st = conn_.lease()->LeaseGrant(&ctx, req, &resp);
    if (st.ok() && !resp.error().empty())
      st = grpc::Status(grpc::StatusCode::UNKNOWN, resp.error());
    Json j;
    j.num("process", process_).str("f", "lease_grant").str("mode", keep ? "keep" : "abandon");
    if (st.ok()) j.num("lease", resp.id()).num("ttl", resp.ttl());
    finish(j, invoke, st, true);
    if (st.ok()) j.num("revision", resp.header().revision());
    record(j, st);
    *id = resp.id();
    *ttl = resp.ttl();
    return st.ok() && resp.ttl() > 0;
  }

  void put(const std::string& key, int64_t id) {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(key.substr(2));
    req.set_lease(id);
    etcdserverpb::PutResponse resp;
    grpc::ClientContext ctx;
    set_deadline(&ctx, a_.op_timeout_ms);
    const int64_t invoke = now_ns();
    const grpc::Status st = conn_.kv()->Put(&ctx, req, &resp);
    Json j;
    j.num("process", process_).str("f", "lease_put").str("key", key).str("value", key.substr(2));
    j.num("lease", id);
    finish(j, invoke, st, true);
    if (st.ok()) j.num("revision", resp.header().revision());
    record(j, st);
  }

  // A linearizable read of the lease's key; returns true if it answered "absent".
  bool read(const std::string& key, int64_t id) {
    etcdserverpb::RangeRequest req;
    req.set_key(key);
    etcdserverpb::RangeResponse resp;
    grpc::ClientContext ctx;
    set_deadline(&ctx, a_.op_timeout_ms);
    const int64_t invoke = now_ns();
    const grpc::Status st = conn_.kv()->Range(&ctx, req, &resp);
    Json j;
    j.num("process", process_).str("f", "lease_read").str("key", key).num("lease", id);
    if (st.ok() && resp.kvs_size() > 0)
      j.str("value", resp.kvs(0).value());
    else
      j.null("value");
    finish(j, invoke, st, false);
    if (st.ok()) j.num("revision", resp.header().revision());
    record(j, st);
    return st.ok() && resp.kvs_size() == 0;
  }

  // One keepalive over its own LeaseKeepAlive stream (one request, one response, under the
  // op deadline). Returns the TTL answered (0: lease not found), -1 on an error.
  int64_t keepalive(int64_t id) {
    grpc::ClientContext ctx;
    set_deadline(&ctx, a_.op_timeout_ms);
    const int64_t invoke = now_ns();
    auto stream = conn_.lease()->LeaseKeepAlive(&ctx);
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(id);
    etcdserverpb::LeaseKeepAliveResponse resp;
    grpc::Status st;
    bool got = false;
    if (stream->Write(req) && stream->Read(&resp)) {
      got = true;
      ctx.TryCancel();
      (void)stream->Finish();
    } else {
      stream->WritesDone();
      st = stream->Finish();
      if (st.ok()) st = grpc::Status(grpc::StatusCode::UNAVAILABLE, "keepalive stream ended");
    }
    Json j;
    j.num("process", process_).str("f", "lease_keepalive").num("lease", id);
    if (got) j.num("ttl", resp.ttl());
    finish(j, invoke, st, true);
    if (got) j.num("revision", resp.header().revision());
    record(j, st);
    return got ? resp.ttl() : -1;
  }

  bool revoke(int64_t id) {
    etcdserverpb::LeaseRevokeRequest req;
    req.set_id(id);
    etcdserverpb::LeaseRevokeResponse resp;
    grpc::ClientContext ctx;
    set_deadline(&ctx, a_.op_timeout_ms);
    const int64_t invoke = now_ns();
    const grpc::Status st = conn_.lease()->LeaseRevoke(&ctx, req, &resp);
    Json j;
    j.num("process", process_).str("f", "lease_revoke").num("lease", id);
    finish(j, invoke, st, true);
    if (st.ok()) j.num("revision", resp.header().revision());
    record(j, st);
    return st.ok();
  }

  // Keeps the lease for 1.5..2.5 TTLs: a keepalive every TTL/3, a read of the key every ~300 ms;
  // then revokes it and reads the key once more (an acknowledged revoke removed it).
  void keep_alive(const std::string& key, int64_t id, int64_t ttl) {
    const int64_t start = now_ns();
    const int64_t hold = ttl * int64_t(1500 + rng_() % 1000) * 1000000;
    const int64_t every = ttl * 1000000000 / 3;
    int64_t next_keepalive = start + every;
    while (!sh_.stop_workers.load() && now_ns() - start < hold) {
      if (now_ns() >= next_keepalive) {
        next_keepalive = now_ns() + every;
        if (keepalive(id) == 0) return;  // gone (recorded; the checker judges whether early)
      }
      read(key, id);
      sleep_ms(250 + int64_t(rng_() % 100));
    }
    if (revoke(id)) read(key, id);
  }

  // No keepalive: poll the key every 200 ms until it is gone (or long after it should be).
  void abandon(const std::string& key, int64_t id, int64_t ttl) {
    const int64_t give_up = now_ns() + (ttl + 30) * 1000000000;
    while (!sh_.stop_workers.load() && now_ns() < give_up) {
      if (read(key, id)) return;
      sleep_ms(200);
    }
  }

  Shared& sh_;
  const Args& a_;
  int process_;
  std::mt19937_64 rng_;
  Conn conn_;
};

// ---------------------------------------------------------------------------------------------
// (c) watchers: the whole keyspace from revision 1, restarted from the last revision + 1 on the
// next endpoint after any stream error; in the final phase they stop at the final revision.

class Watcher {
 public:
  Watcher(Shared& sh, int process)
      : sh_(sh), process_(process), conn_(sh.args.endpoints, process) {}

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  // Final phase: the watcher is done once it has seen an event at revision >= r (every
  // revision above 1 has an event and the watch covers every key). Progress notifications are
  // no proof: etcd 3.4 (and Outpost, alike) answers a progress request at once with the current
  // revision, even while the watcher still has older events to send.
  void set_target(int64_t r) {
    std::lock_guard<std::mutex> lock(mu_);
    target_ = r;
    maybe_done_locked();
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  // Ends the watcher: records watch_end target (if not yet done) and cancels its stream.
  void finish(bool record_end) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!done_ && record_end && target_ >= 0) {
      Json j;
      j.num("process", process_).str("f", "watch_end").num("revision", target_);
      j.num("time", now_ns());
      sh_.history.write(j.line());
    }
    done_ = true;
    if (ctx_) ctx_->TryCancel();
  }

 private:
  void maybe_done_locked() {
    if (done_ || target_ < 0 || (target_ > 1 && last_event_ < target_)) return;
    Json j;
    j.num("process", process_).str("f", "watch_end").num("revision", target_).num("time", now_ns());
    sh_.history.write(j.line());
    done_ = true;
    if (ctx_) ctx_->TryCancel();
  }

  void run() {
    int64_t next_rev = 1;
    while (!sh_.stop_watchers.load()) {
      auto ctx = std::make_unique<grpc::ClientContext>();
      auto stub = conn_.watch();
      std::unique_ptr<WatchStream> stream;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (done_) return;
        stream = stub->Watch(ctx.get());
        ctx_ = ctx.get();
        etcdserverpb::WatchRequest req;
        auto* c = req.mutable_create_request();
        c->set_key(kAllKeys);
        c->set_range_end(kAllKeys);
        c->set_start_revision(next_rev);
        Json j;
        j.num("process", process_).str("f", "watch_start").str("key", kAllKeys);
        j.str("range_end", kAllKeys).num("revision", next_rev).num("time", now_ns());
        sh_.history.write(j.line());
        (void)stream->Write(req);
      }
      etcdserverpb::WatchResponse resp;
      bool restart_now = false;
      while (stream->Read(&resp)) {
        std::lock_guard<std::mutex> lock(mu_);
        if (done_) break;
        if (resp.canceled()) {
          if (resp.compact_revision() > 0) {
            Json j;
            j.num("process", process_).str("f", "watch_compacted");
            j.num("revision", resp.compact_revision()).num("time", now_ns());
            sh_.history.write(j.line());
            next_rev = std::max(next_rev, resp.compact_revision());
          }
          restart_now = true;
          ctx_->TryCancel();
          break;
        }
        for (const auto& ev : resp.events()) {
          const bool put = ev.type() == mvccpb::Event::PUT;
          Json j;
          j.num("process", process_).str("f", "watch_event").str("key", ev.kv().key());
          j.str("event", put ? "put" : "delete");
          if (put)
            j.str("value", ev.kv().value());
          else
            j.null("value");
          j.num("revision", ev.kv().mod_revision()).num("time", now_ns());
          sh_.history.write(j.line());
          ++sh_.watch_events;
          last_event_ = std::max(last_event_, ev.kv().mod_revision());
          next_rev = std::max(next_rev, ev.kv().mod_revision() + 1);
        }
        maybe_done_locked();
        if (done_) break;
      }
      const grpc::Status st = stream->Finish();
      {
        std::lock_guard<std::mutex> lock(mu_);
        ctx_ = nullptr;
        if (done_) return;
      }
      if (!restart_now || !st.ok()) conn_.next();
      if (sh_.stop_watchers.load()) return;
      sleep_ms(restart_now ? 10 : 100);
    }
  }

  Shared& sh_;
  int process_;
  Conn conn_;
  std::thread thread_;
  std::mutex mu_;
  grpc::ClientContext* ctx_ = nullptr;  // of the current stream, under mu_
  int64_t last_event_ = 0, target_ = -1;
  bool done_ = false;
};

// ---------------------------------------------------------------------------------------------
// Final phase.

struct FinalKv {
  std::string key, value;
  int64_t mod = 0, create = 0, version = 0, lease = 0;
};

// A linearizable Range over the whole keyspace on any endpoint that answers, until the
// deadline. Returns the endpoint index that answered, or -1.
int final_range(const Args& a, int64_t deadline_ns, int64_t* revision, std::vector<FinalKv>* kvs,
                int64_t* invoke, int64_t* complete) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (size_t i = 0; i < a.endpoints.size(); ++i)
    channels.push_back(make_channel(a.endpoints[i], 9000 + int(i)));
  while (now_ns() < deadline_ns) {
    for (size_t i = 0; i < channels.size() && now_ns() < deadline_ns; ++i) {
      etcdserverpb::RangeRequest req;
      req.set_key(kAllKeys);
      req.set_range_end(kAllKeys);
      etcdserverpb::RangeResponse resp;
      grpc::ClientContext ctx;
      set_deadline(&ctx, std::max(a.op_timeout_ms, 5000));
      *invoke = now_ns();
      const grpc::Status st = etcdserverpb::KV::NewStub(channels[i])->Range(&ctx, req, &resp);
      *complete = now_ns();
      if (!st.ok()) {
        std::fprintf(stderr, "final range on %s: %s\n", a.endpoints[i].c_str(),
                     st.error_message().c_str());
        continue;
      }
      *revision = resp.header().revision();
      for (const auto& kv : resp.kvs())
        kvs->push_back({kv.key(), kv.value(), kv.mod_revision(), kv.create_revision(), kv.version(),
                        kv.lease()});
      return int(i);
    }
    sleep_ms(200);
  }
  return -1;
}

struct RefEvent {
  std::string key;
  bool put = true;
  std::string value;
  int64_t revision = 0;
};

// The store's event list from revision 1 up to r: a Watch over the whole keyspace, restarted
// from the last revision + 1 on the next endpoint after an error, until it saw an event at >= r
// (see Watcher::set_target for why not a progress notification). Events above r are left out.
// False on timeout / compaction.
bool reference_events(const Args& a, int first_endpoint, int64_t r, int64_t deadline_ns,
                      std::vector<RefEvent>* out, std::string* err) {
  Conn conn(a.endpoints, first_endpoint);
  int64_t next_rev = 1, last = 0;
  if (r <= 1) return true;  // revision 1 is the empty store's: no events
  while (now_ns() < deadline_ns) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::nanoseconds(deadline_ns - now_ns()));
    auto stream = conn.watch()->Watch(&ctx);
    etcdserverpb::WatchRequest req;
    auto* c = req.mutable_create_request();
    c->set_key(kAllKeys);
    c->set_range_end(kAllKeys);
    c->set_start_revision(next_rev);
    if (!stream->Write(req)) {
      *err = "watch stream refused";
    }
    etcdserverpb::WatchResponse resp;
    bool complete = false, compacted = false;
    while (stream->Read(&resp)) {
      if (resp.canceled()) {
        compacted = resp.compact_revision() > 0;
        *err = "reference watch cancelled: " + resp.cancel_reason() +
               (compacted ? " (compacted at " + std::to_string(resp.compact_revision()) + ")" : "");
        break;
      }
      for (const auto& ev : resp.events()) {
        const int64_t rev = ev.kv().mod_revision();
        last = std::max(last, rev);
        next_rev = std::max(next_rev, rev + 1);
        if (rev > r) continue;
        out->push_back({ev.kv().key(), ev.type() == mvccpb::Event::PUT, ev.kv().value(), rev});
      }
      if (last >= r) {
        complete = true;
        break;
      }
    }
    ctx.TryCancel();
    const grpc::Status st = stream->Finish();
    if (complete) return true;
    if (compacted) return false;
    if (!st.ok()) *err = "reference watch: " + st.error_message();
    conn.next();
    sleep_ms(100);
  }
  if (err->empty()) *err = "reference watch timed out";
  return false;
}

std::string summary(const Shared& sh, std::optional<int64_t> final_revision) {
  const Counters* all[] = {&sh.registers, &sh.set, &sh.leases};
  int64_t ops = 0, ok = 0, fail = 0, info = 0;
  for (const Counters* c : all) {
    ops += c->ops.load();
    ok += c->ok.load();
    fail += c->fail.load();
    info += c->info.load();
  }
  std::ostringstream o;
  o << "{\"ops\":" << ops << ",\"ok\":" << ok << ",\"fail\":" << fail << ",\"info\":" << info
    << ",\"final_revision\":" << (final_revision ? std::to_string(*final_revision) : "null")
    << ",\"watch_events\":" << sh.watch_events.load()
    << ",\"register_ops\":" << sh.registers.ops.load() << ",\"set_ops\":" << sh.set.ops.load()
    << ",\"lease_ops\":" << sh.leases.ops.load() << ",\"workload_s\":" << sh.args.time_s << "}";
  return o.str();
}

int run(const Args& args) {
  Shared sh;
  sh.args = args;
  if (!sh.history.open(args.history, false)) {
    std::fprintf(stderr, "cannot open %s: %s\n", args.history.c_str(), std::strerror(errno));
    return 1;
  }
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < args.watchers; ++i) {
    watchers.push_back(std::make_unique<Watcher>(sh, kWatchBase + i));
    watchers.back()->start();
  }
  std::vector<std::thread> workers;
  for (int i = 0; i < args.register_clients; ++i)
    workers.emplace_back([&sh, i] { register_client(sh, i); });
  for (int i = 0; i < args.set_clients; ++i)
    workers.emplace_back([&sh, i] { set_client(sh, kSetBase + i); });
  for (int i = 0; i < args.lease_clients; ++i)
    workers.emplace_back([&sh, i] { LeaseClient(sh, kLeaseBase + i).run(); });

  std::this_thread::sleep_for(std::chrono::duration<double>(args.time_s));
  sh.stop_workers = true;
  for (auto& t : workers) t.join();

  if (args.wait_stdin) {
    std::printf("workload done\n");
    std::fflush(stdout);
    std::string line;
    std::getline(std::cin, line);
  }

  // Final phase.
  const int64_t deadline = now_ns() + int64_t(args.final_timeout_s * 1e9);
  int64_t r = 0, invoke = 0, complete = 0;
  std::vector<FinalKv> kvs;
  const int answered = final_range(args, deadline, &r, &kvs, &invoke, &complete);
  auto give_up = [&](const std::string& why) {
    std::fprintf(stderr, "outpost-nemesis-client: final phase failed: %s\n", why.c_str());
    sh.stop_watchers = true;
    for (auto& w : watchers) w->finish(false);
    for (auto& w : watchers) w->join();
    std::printf("%s\n", summary(sh, std::nullopt).c_str());
    std::fflush(stdout);
    return 2;
  };
  if (answered < 0) return give_up("no member answered a linearizable range");

  if (!args.final_path.empty()) {
    LineFile f;
    if (!f.open(args.final_path, true)) return give_up("cannot open " + args.final_path);
    for (const auto& kv : kvs) {
      Json j;
      j.str("key", kv.key).str("value", kv.value).num("mod_revision", kv.mod);
      j.num("create_revision", kv.create).num("version", kv.version).num("lease", kv.lease);
      f.write(j.line());
    }
  }
  if (args.set_clients > 0) {
    std::string values = "[";
    for (const auto& kv : kvs) {
      if (kv.key.rfind("s/", 0) != 0) continue;
      values += (values.size() > 1 ? "," : "") + kv.key.substr(2);
    }
    values += "]";
    Json j;
    j.num("process", kSetBase).str("f", "read_all").str("key", "set").raw("values", values);
    j.num("invoke", invoke).num("complete", complete).str("outcome", "ok").num("revision", r);
    sh.history.write(j.line());
  }

  for (auto& w : watchers) w->set_target(r);

  bool reference_ok = true;
  if (!args.reference.empty()) {
    std::vector<RefEvent> events;
    std::string err;
    reference_ok = reference_events(args, answered, r, deadline, &events, &err);
    if (!reference_ok) {
      std::fprintf(stderr, "outpost-nemesis-client: %s\n", err.c_str());
    } else {
      LineFile f;
      if (!f.open(args.reference, true)) return give_up("cannot open " + args.reference);
      for (const auto& ev : events) {
        Json j;
        j.str("key", ev.key).str("event", ev.put ? "put" : "delete");
        if (ev.put)
          j.str("value", ev.value);
        else
          j.null("value");
        j.num("revision", ev.revision);
        f.write(j.line());
      }
    }
  }

  // Watchers: until each is done or the deadline.
  while (now_ns() < deadline &&
         !std::all_of(watchers.begin(), watchers.end(), [](auto& w) { return w->done(); }))
    sleep_ms(50);
  sh.stop_watchers = true;
  for (auto& w : watchers) w->finish(true);
  for (auto& w : watchers) w->join();

  std::printf("%s\n", summary(sh, r).c_str());
  std::fflush(stdout);
  return reference_ok ? 0 : 2;
}

}  // namespace
}  // namespace outpost::nemesis

int main(int argc, char** argv) {
  const auto args = outpost::nemesis::parse_args(argc, argv);
  return outpost::nemesis::run(args);
}
