#include "core/api/grpc_metrics.h"

#include <grpcpp/support/byte_buffer.h>

#include <array>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/common/metrics.h"

namespace outpost::api {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

constexpr int kCodes = 17;  // grpc::StatusCode OK (0) .. UNAUTHENTICATED (16)

// grpc-go's codes.Code.String().
const char* code_name(int code) {
  static const char* const names[kCodes] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  return code >= 0 && code < kCodes ? names[code] : "Unknown";
}

const char* type_name(ServerRpcInfo::Type t) {
  switch (t) {
    case ServerRpcInfo::Type::UNARY: return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING: return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING: return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING: return "bidi_stream";
  }
  return "unary";
}

struct Families {
  metrics::Family<metrics::Counter>& started = metrics::default_registry().counter(
      "grpc_server_started_total", "RPCs started on the server.",
      {"grpc_type", "grpc_service", "grpc_method"});
  metrics::Family<metrics::Counter>& handled = metrics::default_registry().counter(
      "grpc_server_handled_total", "RPCs completed on the server, by status code.",
      {"grpc_type", "grpc_service", "grpc_method", "grpc_code"});
  metrics::Counter& sent_bytes =
      metrics::default_registry()
          .counter("etcd_network_client_grpc_sent_bytes_total", "Bytes sent to gRPC clients.")
          .get();
};

Families& families() {
  static Families* f = new Families();
  return *f;
}

// One method's counters, children looked up once.
struct MethodCounters {
  metrics::Counter* started = nullptr;
  std::array<metrics::Counter*, kCodes> handled{};
};

MethodCounters* lookup(const char* method, ServerRpcInfo::Type type) {
  thread_local std::unordered_map<const char*, MethodCounters*> cache;
  auto it = cache.find(method);
  if (it != cache.end()) return it->second;
  static std::mutex mu;
  static auto* all = new std::unordered_map<std::string, MethodCounters*>();
  std::lock_guard l(mu);
  const std::string full = method ? method : "";
  MethodCounters*& mc = (*all)[full + '\0' + type_name(type)];
  if (!mc) {
    // "/etcdserverpb.KV/Range" → service "etcdserverpb.KV", method "Range".
    const size_t slash = full.rfind('/');
    const std::string service = slash == std::string::npos ? "" : full.substr(1, slash - 1);
    const std::string name = slash == std::string::npos ? full : full.substr(slash + 1);
    mc = new MethodCounters();
    Families& f = families();
    mc->started = &f.started.labels({type_name(type), service, name});
    for (int c = 0; c < kCodes; ++c)
      mc->handled[size_t(c)] = &f.handled.labels({type_name(type), service, name, code_name(c)});
  }
  cache.emplace(method, mc);
  return mc;
}

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(MethodCounters* mc) : mc_(mc) { mc_->started->inc(); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      if (grpc::ByteBuffer* b = m->GetSerializedSendMessage())
        families().sent_bytes.inc(b->Length());
    }
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const int code = int(m->GetSendStatus().error_code());
      mc_->handled[size_t(code >= 0 && code < kCodes ? code : 2)]->inc();
    }
    m->Proceed();
  }

 private:
  MethodCounters* mc_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    if (!info->method()) return nullptr;
    return new MetricsInterceptor(lookup(info->method(), info->type()));
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> grpc_metrics_interceptor() {
  families();
  return std::make_unique<Factory>();
}

}  // namespace outpost::api
