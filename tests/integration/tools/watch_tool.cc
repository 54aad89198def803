// outpost-watch-fanout: the shared parts (see watch_tool.h) and main().
#include "watch_tool.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

namespace outpost::watch_tool {

// ---------------------------------------------------------------------------------------------
// Small helpers: JSON strings, channels, argument parsing.

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

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

namespace {

std::string strip_scheme(const std::string& e) {
  const auto p = e.find("://");
  return p == std::string::npos ? e : e.substr(p + 3);
}

}  // namespace

std::shared_ptr<grpc::Channel> make_channel(const std::string& endpoint, int id) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("outpost.watch_fanout.conn_id", id);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 << 20);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // Reconnect to a restarted/failed member quickly (the default backoff grows to minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(strip_scheme(endpoint), grpc::InsecureChannelCredentials(),
                                   args);
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(
      stderr,
      "outpost-watch-fanout: %s\n"
      "usage: outpost-watch-fanout fanout --endpoints A,B,.. --group NAME:STREAMS:PER_STREAM:EPS "
      "...\n"
      "           [--writes N] [--writers N] [--keys N] [--prefix P] [--writer-endpoints EPS]\n"
      "           [--seed N] [--timeout S] [--inject drop|dup|reorder|corrupt|split]\n"
      "       outpost-watch-fanout follow --endpoints A,B,.. --watcher NAME:EPS[:require-leader] "
      "...\n"
      "           [--writers N] [--writer-endpoints EPS] [--prefix P] [--timeout S]\n",
      why.c_str());
  std::exit(2);
}

std::vector<int> parse_indexes(const std::string& s, size_t n) {
  std::vector<int> out;
  for (const auto& p : split(s, ',')) {
    char* end = nullptr;
    const long v = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || v < 0 || size_t(v) >= n)
      usage("bad endpoint index list: " + s);
    out.push_back(int(v));
  }
  if (out.empty()) usage("empty endpoint index list");
  return out;
}

int parse_int(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x <= 0) usage(flag + " needs a positive integer, got " + v);
  return int(x);
}

Args parse_args(int argc, char** argv) {
  if (argc < 2) usage("no mode");
  Args a;
  a.mode = argv[1];
  if (a.mode != "fanout" && a.mode != "follow") usage("unknown mode " + a.mode);
  a.prefix = a.mode == "fanout" ? "wf/" : "lk/";
  std::string writer_eps;
  for (int i = 2; i < argc; ++i) {
    const std::string f = argv[i];
    if (i + 1 >= argc) usage(f + " needs a value");
    const std::string v = argv[++i];
    if (f == "--endpoints")
      a.endpoints = split(v, ',');
    else if (f == "--group")
      a.groups.push_back(v);
    else if (f == "--watcher")
      a.watchers.push_back(v);
    else if (f == "--writer-endpoints")
      writer_eps = v;
    else if (f == "--writes")
      a.writes = parse_int(f, v);
    else if (f == "--writers")
      a.writers = parse_int(f, v);
    else if (f == "--keys")
      a.keys = parse_int(f, v);
    else if (f == "--seed")
      a.seed = parse_int(f, v);
    else if (f == "--timeout")
      a.timeout_s = parse_int(f, v);
    else if (f == "--prefix")
      a.prefix = v;
    else if (f == "--inject")
      a.inject = v;
    else
      usage("unknown flag " + f);
  }
  if (a.endpoints.empty()) usage("--endpoints is required");
  if (writer_eps.empty()) {
    for (size_t i = 0; i < a.endpoints.size(); ++i) a.writer_endpoints.push_back(int(i));
  } else {
    a.writer_endpoints = parse_indexes(writer_eps, a.endpoints.size());
  }
  if (a.mode == "fanout") {
    if (a.groups.empty()) usage("fanout needs at least one --group");
    if (a.keys > 1000 || a.keys % 10 != 0 || a.keys % a.writers != 0 || a.keys / a.writers < 4)
      usage(
          "--keys must be a multiple of 10 and of --writers, at most 1000, at least 4 per writer");
  } else if (a.watchers.empty()) {
    usage("follow needs at least one --watcher");
  }
  return a;
}

// The current revision, from a linearizable Range of one key on any of `eps` (tried in turn).
int64_t current_revision(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                         std::string* err) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    for (const auto& ch : channels) {
      auto kv = etcdserverpb::KV::NewStub(ch);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
      etcdserverpb::RangeRequest req;
      req.set_key("outpost-watch-fanout-probe");
      etcdserverpb::RangeResponse resp;
      const grpc::Status st = kv->Range(&ctx, req, &resp);
      if (st.ok()) return resp.header().revision();
      *err = st.error_message();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a client's retry backoff
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Events as the tool models and records them.

Kv from_pb(const mvccpb::KeyValue& k) {
  return Kv{k.key(), k.value(), k.create_revision(), k.mod_revision(), k.version(), k.lease()};
}

Ev from_pb(const mvccpb::Event& e) {
  Ev ev;
  ev.type = int(e.type());
  ev.kv = from_pb(e.kv());
  ev.has_prev = e.has_prev_kv();
  if (ev.has_prev) ev.prev = from_pb(e.prev_kv());
  return ev;
}

std::string describe(const Kv& k) {
  std::ostringstream o;
  o << "{key=" << k.key << " value=" << k.value << " create=" << k.create << " mod=" << k.mod
    << " version=" << k.version << " lease=" << k.lease << "}";
  return o.str();
}

std::string describe(const Ev& e) {
  return std::string(e.type == 0 ? "PUT " : "DELETE ") + describe(e.kv) +
         (e.has_prev ? " prev=" + describe(e.prev) : "");
}

}  // namespace outpost::watch_tool

int main(int argc, char** argv) {
  using namespace outpost::watch_tool;
  const Args a = parse_args(argc, argv);
  return a.mode == "fanout" ? run_fanout(a) : run_follow(a);
}
