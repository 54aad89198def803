// lease-keepalive: each client grants one lease (TTL 100 s), opens one LeaseKeepAlive stream and
// does keep-alive round trips on it (write the lease id, read the answer) until --total round
// trips have been made over all clients. Only the round trips are measured.
#include <cstdio>

#include "bench.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace outpost::bench {
namespace {

using etcdserverpb::Lease;

constexpr int64_t kLeaseTtl = 100;

class KeepAliveClient final : public Handler {
 public:
  KeepAliveClient(Run& run, Lease::Stub* stub, grpc::CompletionQueue* cq)
      : run_(run), stub_(stub), cq_(cq) {}

  void begin() {
    grant_context_.set_deadline(to_system(run_.deadline()));
    authorize(&grant_context_);
    etcdserverpb::LeaseGrantRequest req;
    req.set_ttl(kLeaseTtl);
    grant_ = stub_->PrepareAsyncLeaseGrant(&grant_context_, req, cq_);
    grant_->StartCall();
    grant_->Finish(&grant_response_, &status_, &grant_tag_);
  }

  void on_event(int step, bool ok) override {
    switch (step) {
      case kGrant: return on_grant();
      case kStart: return ok ? next() : finish();
      case kWrite:
        if (!ok) return finish();
        stream_->Read(&response_, &read_tag_);
        return;
      case kRead:
        if (!ok) return finish();
        if (response_.ttl() <= 0) {
          run_.error("lease keepalive: lease " + std::to_string(id_) +
                     " not found or expired (TTL 0)");
        } else {
          latencies.push_back(seconds_between(start_, Clock::now()));
        }
        return next();
      case kFinish: return on_finish();
    }
  }

  std::vector<double> latencies;

 private:
  enum Step { kGrant, kStart, kWrite, kRead, kFinish };

  void on_grant() {
    if (!status_.ok()) {
      if (status_.error_code() == grpc::StatusCode::UNIMPLEMENTED)
        run_.unsupported(describe(status_));
      else
        run_.error("LeaseGrant: " + describe(status_));
      run_.client_done();
      return;
    }
    if (!grant_response_.error().empty()) {
      run_.error("LeaseGrant: " + grant_response_.error());
      run_.client_done();
      return;
    }
    id_ = grant_response_.id();
    stream_context_.set_deadline(to_system(run_.deadline()));
    authorize(&stream_context_);
    stream_ = stub_->PrepareAsyncLeaseKeepAlive(&stream_context_, cq_);
    stream_->StartCall(&start_tag_);
  }

  void next() {
    uint64_t index = 0;
    if (!run_.claim(&index)) {
      closing_ = true;
      stream_context_.TryCancel();
      return finish();
    }
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(id_);
    start_ = Clock::now();
    stream_->Write(req, &write_tag_);
  }

  void finish() { stream_->Finish(&status_, &finish_tag_); }

  void on_finish() {
    if (!closing_) {
      if (status_.error_code() == grpc::StatusCode::UNIMPLEMENTED)
        run_.unsupported(describe(status_));
      else if (status_.ok())
        run_.error("lease keepalive stream closed by the server");
      else
        run_.error(describe(status_));
    }
    run_.client_done();
  }

  Run& run_;
  Lease::Stub* stub_;
  grpc::CompletionQueue* cq_;
  grpc::ClientContext grant_context_;
  etcdserverpb::LeaseGrantResponse grant_response_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::LeaseGrantResponse>> grant_;
  grpc::ClientContext stream_context_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                                etcdserverpb::LeaseKeepAliveResponse>>
      stream_;
  etcdserverpb::LeaseKeepAliveResponse response_;
  grpc::Status status_;
  int64_t id_ = 0;
  bool closing_ = false;
  Clock::time_point start_;
  Tag grant_tag_{this, kGrant};
  Tag start_tag_{this, kStart};
  Tag write_tag_{this, kWrite};
  Tag read_tag_{this, kRead};
  Tag finish_tag_{this, kFinish};
};

}  // namespace

int run_lease_keepalive(const Options& o) {
  if (std::string err = authenticate(o, credentials(o)); !err.empty()) {
    std::fprintf(stderr, "outpost-bench: %s\n", err.c_str());
    return kExitErrors;
  }
  Connections conns(o.endpoints, o.conns, credentials(o));
  if (std::string err = conns.connect(o.dial_timeout_s); !err.empty()) {
    std::fprintf(stderr, "outpost-bench: %s\n", err.c_str());
    return kExitErrors;
  }
  std::vector<std::unique_ptr<Lease::Stub>> stubs;
  for (int i = 0; i < conns.size(); ++i) stubs.push_back(Lease::NewStub(conns.channel(i)));

  Run run(o.total, 0, o.timeout_s, o.clients);
  std::vector<std::unique_ptr<KeepAliveClient>> clients;
  for (int c = 0; c < o.clients; ++c) {
    const int conn = c % conns.size();
    clients.push_back(
        std::make_unique<KeepAliveClient>(run, stubs[size_t(conn)].get(), conns.queue(conn)));
  }
  for (auto& c : clients) c->begin();
  finish_clients(run, conns);

  RunResult result;
  result.op = "lease-keepalive";
  result.clients = o.clients;
  result.conns = o.conns;
  result.total = o.total;
  result.seconds = seconds_between(run.start(), run.finish_time());
  for (auto& c : clients)
    result.latencies.insert(result.latencies.end(), c->latencies.begin(), c->latencies.end());
  uint64_t errors = 0;
  for (const auto& [msg, n] : run.errors()) errors += n;
  result.timed_out = result.latencies.size() + errors < o.total && run.past_deadline();
  return print_result(o, result, run, "lease");
}

}  // namespace outpost::bench
