#include "core/api/health.h"

#include <chrono>
#include <future>
#include <memory>

#include "core/common/log.h"

namespace outpost::api {

namespace {

const HttpResponse kNotAllowed{405, "text/plain; charset=utf-8", "Method Not Allowed\n"};

// A linearizable read barrier (read index from the leader, applied up to it) within timeout.
bool linearizable_read(server::Member& m, std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<bool>>();
  auto f = done->get_future();
  m.read_barrier([done](const Status& s) { done->set_value(s.is_ok()); });
  return f.wait_for(timeout) == std::future_status::ready && f.get();
}

// The local store answers a read (a serializable read of any key).
bool serializable_read(server::Member& m) {
  (void)m.store().current_revision();
  return true;
}

// Kubernetes-style probe answer, as etcd 3.6's /livez and /readyz write it.
HttpResponse probe_answer(const std::string& name,
                          const std::vector<std::pair<std::string, bool>>& checks) {
  std::string failed;
  for (const auto& [check, ok] : checks)
    if (!ok) failed += "[-]" + check + " failed: reason withheld\n";
  if (failed.empty()) return {200, "text/plain; charset=utf-8", "ok"};
  return {503, "text/plain; charset=utf-8", failed + name + " check failed\n"};
}

}  // namespace

HttpHandler health_handler(server::Member& m) {
  return [&m](const std::string& method, const std::string&, const std::string&) {
    if (method != "GET") return kNotAllowed;
    const char* why = nullptr;
    auto alarms = m.alarms().get();
    if (!alarms.empty()) {
      why = "active alarm";
    } else if (m.leader_id() == 0) {
      why = "no leader";
    } else if (!linearizable_read(m, std::chrono::seconds(1))) {
      why = "QGET failed";
    }
    if (why) {
      OUTPOST_LOG(kWarn, "/health error", log::kv("reason", why));
      return HttpResponse{503, "text/plain; charset=utf-8", "{\"health\":\"false\"}\n"};
    }
    return HttpResponse{200, "text/plain; charset=utf-8", "{\"health\":\"true\"}"};
  };
}

HttpHandler livez_handler(server::Member& m) {
  return [&m](const std::string& method, const std::string&, const std::string&) {
    if (method != "GET") return kNotAllowed;
    return probe_answer("livez", {{"serializable_read", serializable_read(m)}});
  };
}

HttpHandler readyz_handler(server::Member& m) {
  return [&m](const std::string& method, const std::string&, const std::string&) {
    if (method != "GET") return kNotAllowed;
    const bool corrupt = m.alarms().active(etcdserverpb::CORRUPT);
    const bool lin = m.leader_id() != 0 && linearizable_read(m, std::chrono::seconds(1));
    return probe_answer("readyz", {{"data_corruption", !corrupt},
                                   {"serializable_read", serializable_read(m)},
                                   {"linearizable_read", lin}});
  };
}

}  // namespace outpost::api
