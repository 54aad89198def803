// put, range and txn-put: --clients loops of unary KV calls, each loop bound to one connection.
#include <grpcpp/alarm.h>

#include <cstdio>
#include <functional>
#include <random>

#include "bench.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace outpost::bench {
namespace {

using etcdserverpb::KV;

// One client: claims a request index, waits for its --rate slot if any, sends the request,
// records the latency or the error, and starts over until the run has no more requests for it.
template <class Req, class Resp>
class UnaryClient final : public Handler {
 public:
  using Prepare = std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> (KV::Stub::*)(
      grpc::ClientContext*, const Req&, grpc::CompletionQueue*);
  using Make = std::function<void(uint64_t index, std::mt19937_64& rng, Req* req)>;

  UnaryClient(Run& run, KV::Stub* stub, Prepare prepare, grpc::CompletionQueue* cq, Make make,
              uint64_t seed)
      : run_(run), stub_(stub), prepare_(prepare), cq_(cq), make_(std::move(make)), rng_(seed) {}

  void begin() { next(); }

  void on_event(int step, bool) override {
    if (step == kAlarm) {
      send();
      return;
    }
    if (status_.ok()) {
      latencies.push_back(seconds_between(start_, Clock::now()));
    } else {
      run_.error(describe(status_));
    }
    next();
  }

  std::vector<double> latencies;

 private:
  enum Step { kAlarm, kFinish };

  void next() {
    uint64_t index = 0;
    if (!run_.claim(&index)) {
      run_.client_done();
      return;
    }
    make_(index, rng_, &request_);
    const auto due = run_.due(index);
    if (due > Clock::now()) {
      alarm_ = std::make_unique<grpc::Alarm>();
      alarm_->Set(cq_, to_system(due), &alarm_tag_);
      return;
    }
    send();
  }

  void send() {
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(to_system(run_.deadline()));
    authorize(context_.get());
    start_ = Clock::now();
    reader_ = (stub_->*prepare_)(context_.get(), request_, cq_);
    reader_->StartCall();
    reader_->Finish(&response_, &status_, &finish_tag_);
  }

  Run& run_;
  KV::Stub* stub_;
  Prepare prepare_;
  grpc::CompletionQueue* cq_;
  Make make_;
  std::mt19937_64 rng_;

  Req request_;
  Resp response_;
  grpc::Status status_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> reader_;
  std::unique_ptr<grpc::Alarm> alarm_;
  Clock::time_point start_;
  Tag alarm_tag_{this, kAlarm};
  Tag finish_tag_{this, kFinish};
};

template <class Req, class Resp>
int run_unary(const Options& o, const std::string& op,
              typename UnaryClient<Req, Resp>::Prepare prepare,
              typename UnaryClient<Req, Resp>::Make make, const std::string& note) {
  if (std::string err = authenticate(o, credentials(o)); !err.empty()) {
    std::fprintf(stderr, "outpost-bench: %s\n", err.c_str());
    return kExitErrors;
  }
  Connections conns(o.endpoints, o.conns, credentials(o));
  if (std::string err = conns.connect(o.dial_timeout_s); !err.empty()) {
    std::fprintf(stderr, "outpost-bench: %s\n", err.c_str());
    return kExitErrors;
  }
  std::vector<std::unique_ptr<KV::Stub>> stubs;
  for (int i = 0; i < conns.size(); ++i) stubs.push_back(KV::NewStub(conns.channel(i)));

  std::random_device seeder;
  const uint64_t base_seed = (uint64_t(seeder()) << 32) | seeder();
  Run run(o.total, o.rate, o.timeout_s, o.clients);
  std::vector<std::unique_ptr<UnaryClient<Req, Resp>>> clients;
  for (int c = 0; c < o.clients; ++c) {
    const int conn = c % conns.size();
    clients.push_back(std::make_unique<UnaryClient<Req, Resp>>(
        run, stubs[size_t(conn)].get(), prepare, conns.queue(conn), make, base_seed + uint64_t(c)));
  }
  for (auto& c : clients) c->begin();
  finish_clients(run, conns);

  RunResult result;
  result.op = op;
  result.clients = o.clients;
  result.conns = o.conns;
  result.total = o.total;
  result.note = note;
  result.seconds = seconds_between(run.start(), run.finish_time());
  for (auto& c : clients)
    result.latencies.insert(result.latencies.end(), c->latencies.begin(), c->latencies.end());
  uint64_t errors = 0;
  for (const auto& [msg, n] : run.errors()) errors += n;
  result.timed_out = result.latencies.size() + errors < o.total && run.past_deadline();
  return print_result(o, result, run, "");
}

}  // namespace

int run_put(const Options& o) {
  const std::string value = random_bytes(size_t(o.val_size), std::random_device{}());
  auto make = [&o, value](uint64_t index, std::mt19937_64& rng, etcdserverpb::PutRequest* req) {
    const int64_t k = o.sequential_keys ? int64_t(index % uint64_t(o.key_space_size))
                                        : int64_t(rng() % uint64_t(o.key_space_size));
    req->set_key(varint_key(k, o.key_size));
    req->set_value(value);
  };
  return run_unary<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
      o, "put", &KV::Stub::PrepareAsyncPut, make, "");
}

int run_range(const Options& o) {
  etcdserverpb::RangeRequest base;
  base.set_key(o.args[0]);
  if (o.args.size() > 1) base.set_range_end(o.args[1]);
  base.set_serializable(o.consistency == "s");
  auto make = [base](uint64_t, std::mt19937_64&, etcdserverpb::RangeRequest* req) {
    if (req->key().empty()) *req = base;
  };
  return run_unary<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
      o, o.consistency == "s" ? "range-s" : "range-l", &KV::Stub::PrepareAsyncRange, make, "");
}

int run_txn_put(const Options& o) {
  const std::string value = random_bytes(size_t(o.val_size), std::random_device{}());
  auto make = [&o, value](uint64_t index, std::mt19937_64&, etcdserverpb::TxnRequest* req) {
    req->Clear();
    for (int j = 0; j < o.txn_ops; ++j) {
      const int64_t k =
          int64_t((index * uint64_t(o.txn_ops) + uint64_t(j)) % uint64_t(o.key_space_size));
      auto* put = req->add_success()->mutable_request_put();
      put->set_key(varint_key(k, o.key_size));
      put->set_value(value);
    }
  };
  return run_unary<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
      o, "txn-put", &KV::Stub::PrepareAsyncTxn, make, "");
}

}  // namespace outpost::bench
