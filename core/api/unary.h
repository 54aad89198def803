#pragma once
// serve_unary: one unary call on raw bytes. The services register their methods as raw
// (ByteBuffer) callback methods and parse requests here, because grpc++'s typed callback
// handler answers an unparsable request with a bare UNIMPLEMENTED; etcd (grpc-go) answers
// INTERNAL "grpc: error unmarshalling request: ...", and so do we.
//
// The handler gets a UnaryCall and must call finish() exactly once, on any thread, now or
// later (after a proposal is applied); finish() serializes the response and frees the call.
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <functional>
#include <string>
#include <utility>

#include "core/api/credentials.h"
#include "core/auth/store.h"

namespace outpost::api {

template <class Req, class Resp>
struct UnaryCall {
  grpc::ServerUnaryReactor* reactor;  // null: a call forwarded by a replica (local_done)
  grpc::ByteBuffer* out;
  Req req;
  Resp resp;
  std::function<void(const grpc::Status&, const Resp&)> local_done;
  Credentials creds;      // as the call carried them
  auth::AuthInfo caller;  // resolved from creds (auth.h with_caller) before the handler runs

  void finish(const grpc::Status& s) {
    if (!reactor) {
      local_done(s, resp);
    } else if (s.ok()) {
      bool own = false;
      grpc::Status ser = grpc::SerializationTraits<Resp>::Serialize(resp, out, &own);
      reactor->Finish(ser);
    } else {
      reactor->Finish(s);
    }
    delete this;
  }
};

template <class Req, class Resp, class Fn>
grpc::ServerUnaryReactor* serve_unary(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                      grpc::ByteBuffer* out, Fn&& handler) {
  auto* call = new UnaryCall<Req, Resp>{ctx->DefaultReactor(), out, {}, {}, {}, {}, {}};
  call->creds = credentials_of(ctx);
  grpc::ServerUnaryReactor* reactor = call->reactor;
  grpc::ByteBuffer copy(*in);
  grpc::ProtoBufferReader reader(&copy);
  if (!call->req.ParseFromZeroCopyStream(&reader)) {
    call->finish(grpc::Status(grpc::StatusCode::INTERNAL,
                              "grpc: error unmarshalling request: invalid wire-format data for " +
                                  call->req.GetTypeName()));
    return reactor;
  }
  handler(call);  // may have finished (and freed) the call already
  return reactor;
}

}  // namespace outpost::api
