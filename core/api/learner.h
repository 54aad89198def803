#pragma once
// What a learner does with a client's call (replicas, DESIGN.md): the read policy for
// linearizable reads and the write policy for everything only the leader can run.
//
// etcd 3.4 answers a learner's clients "rpc not supported for learner" on every unary call but
// Status and serializable Range; that is ReadPolicy::kRefuse and WritePolicy::kRefuse, the
// defaults. With writes = forward, a learner sends the call to the leader over the peer
// connection (Member::forward) and answers with the leader's answer, once it has applied as far
// as the leader had; the leader runs it through the same handler its own clients reach
// (ForwardRegistry). Beyond etcd, a learner always serves Watch, LeaseKeepAlive, HashKV and
// Snapshot (a backup taken at the edge).
#include <functional>
#include <map>
#include <string>

#include "core/api/auth.h"
#include "core/api/errors.h"
#include "core/api/unary.h"
#include "core/server/member.h"

namespace outpost::api {

// gRPC metadata a self-joining replica sends with its MemberAdd (replica/join.h).
inline constexpr const char* kSelfJoinHeader = "outpost-self-join";
// The forwarded method a member that does not lead uses to hand a self-join to the leader.
inline constexpr const char* kSelfJoinMethod = "/outpost.SelfJoin/MemberAdd";

enum class ReadPolicy { kRefuse, kSerializable, kLinearizable, kBounded };

struct LearnerOptions {
  ReadPolicy reads = ReadPolicy::kRefuse;
  bool forward_writes = false;
  uint64_t max_lag_ms = 1000;      // bounded: 0 = no bound on time
  uint64_t max_lag_revisions = 0;  // bounded: 0 = no bound on revisions
};

// How a linearizable read on this member runs.
enum class ReadPath { kLocal, kReadIndex, kRefuse };
ReadPath linearizable_read_path(server::Member& m, const LearnerOptions& o);

// Runs run() now when the read is serializable or may be served locally, after the read index
// when it must be linearizable here, or refuses it (a learner under ReadPolicy::kRefuse).
template <class Call, class Run>
void read_with_policy(server::Member& m, const LearnerOptions& o, bool serializable, Call* call,
                      Run run) {
  if (serializable) return run();
  switch (linearizable_read_path(m, o)) {
    case ReadPath::kLocal: return run();
    case ReadPath::kRefuse:
      return call->finish(to_grpc(Status::of(ErrorCode::kNotSupportedForLearner)));
    case ReadPath::kReadIndex: break;
  }
  // Wait until this member has applied what the leader had committed.
  m.read_barrier([call, run = std::move(run)](const Status& s) mutable {
    if (!s) return call->finish(to_grpc(s));
    run();
  });
}

// Forwards call to the leader and finishes it with the leader's answer.
template <class Call>
void forward_to_leader(server::Member& m, const char* method, Call* call) {
  outpostpb::ForwardedCall fc;
  fc.set_method(method);
  fc.set_request(call->req.SerializeAsString());
  // The caller's identity goes along; the leader resolves and checks it again.
  if (!call->creds.token.empty())
    fc.set_auth_token(call->creds.token);
  else
    fc.set_auth_user(call->caller.user);
  m.forward(std::move(fc), [call](const Status& s, outpostpb::ForwardedAnswer a) {
    if (!s) return call->finish(to_grpc(s));
    if (a.code() != 0) return call->finish(grpc::Status(grpc::StatusCode(a.code()), a.message()));
    if (!call->resp.ParseFromString(a.response()))
      return call->finish(to_grpc(Status::internal("undecodable answer from the leader")));
    call->finish(grpc::Status::OK);
  });
}

// Wraps a handler of a call only the leader's side may run (writes, leases, membership): the
// caller (resolved already, auth.h with_caller) must be allowed the request here; then a voter
// runs it, a learner forwards it or refuses it, as configured.
template <class Fn>
auto leader_side(server::Member& m, const LearnerOptions& o, const char* method, Fn fn) {
  return [&m, &o, method, fn = std::move(fn)](auto* call) mutable {
    Status allowed = authorize(m, call->caller, call->req);
    if (!allowed) return call->finish(to_grpc(allowed));
    if (!m.is_learner()) return fn(call);
    if (!o.forward_writes)
      return call->finish(to_grpc(Status::of(ErrorCode::kNotSupportedForLearner)));
    forward_to_leader(m, method, call);
  };
}

// The leader's side of forwarding: runs a forwarded call through the handler of its method,
// as the caller the learner named (resolved and checked again here).
class ForwardRegistry {
 public:
  explicit ForwardRegistry(server::Member& m) : m_(m) {}

  template <class Req, class Resp, class Fn>
  void add(std::string method, Fn fn) {
    runners_[std::move(method)] = [this, fn](outpostpb::ForwardedCall fc,
                                             server::Member::ForwardReply reply) {
      auto* call = new UnaryCall<Req, Resp>{nullptr, nullptr, {}, {}, {}, {}, {}};
      call->creds.token = fc.auth_token();
      call->creds.cert_user = fc.auth_user();
      call->creds.forwarded = true;
      call->local_done = [reply = std::move(reply)](const grpc::Status& s, const Resp& resp) {
        outpostpb::ForwardedAnswer a;
        a.set_code(int(s.error_code()));
        a.set_message(s.error_message());
        if (s.ok()) a.set_response(resp.SerializeAsString());
        reply(std::move(a));
      };
      if (!call->req.ParseFromString(fc.request())) {
        return call->finish(
            grpc::Status(grpc::StatusCode::INTERNAL,
                         "grpc: error unmarshalling request: invalid wire-format data for " +
                             call->req.GetTypeName()));
      }
      if (fc.internal()) return fn(call);  // the learner's own request (auto-promotion)
      with_caller(m_, false, [this, fn](auto* call) mutable {
        Status allowed = authorize(m_, call->caller, call->req);
        if (!allowed) return call->finish(to_grpc(allowed));
        fn(call);
      })(call);
    };
  }
  void run(outpostpb::ForwardedCall call, server::Member::ForwardReply reply) const;

 private:
  server::Member& m_;
  std::map<std::string, std::function<void(outpostpb::ForwardedCall, server::Member::ForwardReply)>>
      runners_;
};

}  // namespace outpost::api
