#pragma once
// Gateway: etcd's gRPC JSON gateway (grpc-gateway v1 as etcd 3.4 registers it) on the client
// port's HTTP/1.1 server: `POST /v3/kv/range` with a JSON body is KV.Range, and so on for every
// route etcd's generated gateway has (KV, Watch, Lease, Cluster, Maintenance, Auth), under /v3/
// and, as etcd 3.4 rewrites it, /v3beta/.
//
// Design. No service logic here: each call goes to the member's own gRPC services over an
// in-process channel (grpc::Server::InProcessChannel, no socket, no HTTP/2 framing), through a
// generic stub, so that validation, auth, learner forwarding and errors are the gRPC API's. The
// caller's "Authorization" header becomes the call's "token" metadata, as etcd's gateway passes
// it on. Requests and answers are mapped by protobuf's own JSON util with grpc-gateway's JSONPb
// settings (proto field names, int64 as strings, bytes as base64, defaults omitted, unknown
// fields ignored); the method's message types come from the generated descriptors.
//
// The contract, as grpc-gateway v1 answers it:
//  * unary: 200 with the response message; an error is the gRPC status mapped to HTTP
//    (HTTPStatusFromCode) with {"error":msg,"message":msg,"code":N};
//  * streams (Watch, LeaseKeepAlive, Snapshot): a chunked answer of lines {"result":msg}; an
//    error {"error":{"grpc_code","http_code","message","http_status"}} ends it. Every JSON value
//    of the body is one request; then the request side is closed, except for Watch, which stays
//    open until the HTTP client goes away (etcd's watch server keeps a half-closed stream
//    watching; Outpost's ends it, so the gateway does not half-close);
//  * a body that is not JSON: 400 code 3 (unary) or 500 code 2 (streams), as etcd's; the
//    message is protobuf's, except for a body cut short ("unexpected EOF") and a bad first
//    character, worded as Go's decoder words them;
//  * another method than POST: 405 "Method Not Allowed"; OPTIONS: 200 (etcd's CORS
//    preflight); an unknown path under /v3/: 404 "Not Found". Every answer has etcd's CORS
//    headers (etcd's default --cors "*").
//
// Threads. Unary calls run on the listener's HTTP threads and wait for the answer; a stream runs
// on the listener's thread for streamed answers, polling its gRPC call (a callback reactor) and
// the HTTP client every 100 ms, and cancels the call when the client hangs up.
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/api/client_listener.h"

namespace grpc {
class Server;
class Channel;
template <class RequestType, class ResponseType>
class TemplatedGenericStub;
class ByteBuffer;
}  // namespace grpc

namespace outpost::api {

class Gateway {
 public:
  Gateway();
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Every gateway route (path → handler), /v3/ and /v3beta/, and the two subtrees' 404. The
  // handlers refer to this object: it must outlive the listener serving them.
  std::vector<std::pair<std::string, HttpRoute>> routes();
  // Opens the in-process channel to the server the routes call; before, they answer 503.
  void attach(grpc::Server* server);

 private:
  struct Rpc;
  HttpResponse serve(const Rpc& rpc, const HttpRequest& r);
  HttpResponse unary(const Rpc& rpc, const HttpRequest& r, const std::string& json);
  HttpResponse stream(const Rpc& rpc, const HttpRequest& r);

  std::mutex mu_;
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<grpc::TemplatedGenericStub<grpc::ByteBuffer, grpc::ByteBuffer>> stub_;
};

// The first JSON value of body and where it ends (for a body holding several, as a Watch body
// may): false with *error worded as Go's encoding/json words it when the body is cut short or
// does not begin like a JSON value. An empty body (blanks only) gives an empty *value and true.
// Framing only: protobuf's JSON util parses the value.
bool next_json_value(std::string_view body, size_t* pos, std::string_view* value,
                     std::string* error);

}  // namespace outpost::api
