#include "driver.h"

#include <pthread.h>

#include <cstdio>

namespace outpost::bench {
namespace {

constexpr uint64_t kPrintedErrors = 5;

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "Canceled";
    case grpc::StatusCode::UNKNOWN: return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT: return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND: return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS: return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED: return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FailedPrecondition";
    case grpc::StatusCode::ABORTED: return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE: return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED: return "Unimplemented";
    case grpc::StatusCode::INTERNAL: return "Internal";
    case grpc::StatusCode::UNAVAILABLE: return "Unavailable";
    case grpc::StatusCode::DATA_LOSS: return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED: return "Unauthenticated";
    default: return "Unknown";
  }
}

std::string strip_scheme(const std::string& endpoint) {
  if (endpoint.rfind("http://", 0) == 0) return endpoint.substr(7);
  if (endpoint.rfind("https://", 0) == 0) return endpoint.substr(8);
  return endpoint;
}

}  // namespace

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::chrono::system_clock::time_point to_system(Clock::time_point t) {
  auto delta = t - Clock::now();
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(delta);
}

std::string describe(const grpc::Status& status) {
  const std::string& msg = status.error_message();
  return std::string("rpc error: code = ") + code_name(status.error_code()) +
         " desc = " + (msg.empty() ? "(no message)" : msg);
}

// --------------------------------------------------------------------------------------------

Connections::Connections(const std::vector<std::string>& endpoints, int conns,
                         std::shared_ptr<grpc::ChannelCredentials> creds) {
  for (int i = 0; i < conns; ++i) {
    const std::string target = strip_scheme(endpoints[size_t(i) % endpoints.size()]);
    grpc::ChannelArguments args;
    // Without these, channels to the same target share one subchannel, i.e. one TCP connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("outpost.bench.conn_id", i);
    args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 << 20);
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "outpost-bench");
    channels_.push_back(grpc::CreateCustomChannel(target, creds, args));
    targets_.push_back(target);
  }
  const int nqueues = std::min(conns, kMaxQueues);
  for (int q = 0; q < nqueues; ++q) queues_.push_back(std::make_unique<grpc::CompletionQueue>());
  for (int q = 0; q < nqueues; ++q) {
    threads_.emplace_back([cq = queues_[size_t(q)].get(), q] {
      std::string name = "bench-cq-" + std::to_string(q);
      pthread_setname_np(pthread_self(), name.c_str());
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) {
        auto* t = static_cast<Tag*>(tag);
        t->handler->on_event(t->step, ok);
      }
    });
  }
}

Connections::~Connections() { shutdown(); }

std::string Connections::connect(double timeout_s) {
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(
                      std::chrono::duration<double>(timeout_s));
  for (size_t i = 0; i < channels_.size(); ++i) {
    if (!channels_[i]->WaitForConnected(deadline)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", timeout_s);
      return "cannot connect to " + targets_[i] + " within " + buf +
             "s (is the server running and listening there?)";
    }
  }
  return "";
}

void Connections::shutdown() {
  if (shut_) return;
  shut_ = true;
  for (auto& q : queues_) q->Shutdown();
  for (auto& t : threads_) t.join();
}

// --------------------------------------------------------------------------------------------

Run::Run(uint64_t total, double rate, double timeout_s, int live_clients)
    : total_(total),
      rate_(rate),
      start_(Clock::now()),
      deadline_(start_ + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(timeout_s))),
      live_(live_clients),
      finish_(start_) {}

bool Run::claim(uint64_t* index) {
  if (stopping_.load(std::memory_order_relaxed) || past_deadline()) return false;
  uint64_t i = next_.fetch_add(1, std::memory_order_relaxed);
  if (i >= total_) return false;
  *index = i;
  return true;
}

Clock::time_point Run::due(uint64_t index) const {
  if (rate_ <= 0) return start_;
  return start_ + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(double(index) / rate_));
}

void Run::error(const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  ++errors_[message];
  if (printed_ < kPrintedErrors) {
    std::fprintf(stderr, "outpost-bench: error: %s\n", message.c_str());
    if (++printed_ == kPrintedErrors)
      std::fprintf(stderr, "outpost-bench: (further errors are only counted)\n");
  }
}

void Run::unsupported(const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (unsupported_.empty()) unsupported_ = message;
  }
  stop();
}

void Run::client_done() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--live_ == 0) {
    finish_ = Clock::now();
    cv_.notify_all();
  }
}

bool Run::wait_done(Clock::time_point until) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, until, [this] { return live_ == 0; });
}

std::map<std::string, uint64_t> Run::errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return errors_;
}

std::string Run::unsupported_message() const {
  std::lock_guard<std::mutex> lock(mu_);
  return unsupported_;
}

Clock::time_point Run::finish_time() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finish_;
}

}  // namespace outpost::bench
