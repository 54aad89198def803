#pragma once
// HTTP health probes on the client URLs (and, through these handlers, wherever else they are
// served):
//   GET /health  etcd 3.4's: {"health":"true"} (200) or {"health":"false"} (503, with the newline
//                Go's http.Error adds), false when an alarm is active, when the member knows no
//                leader, or when a linearizable read (etcd's QGET through the log) does not
//                complete within 1 s. etcd's ?exclude=ALARM is not supported (the HTTP routes
//                get no query string).
//   GET /livez   beyond etcd 3.4 (etcd 3.5.11+/3.6 semantics): the process serves; "ok" (200),
//                else "[-]serializable_read failed: reason withheld\nlivez check failed" (503).
//   GET /readyz  beyond etcd 3.4 (same): no CORRUPT alarm (data_corruption), the local store
//                reads (serializable_read), and a linearizable read completes within 1 s
//                (linearizable_read: needs a leader and a quorum); "ok" or the failed checks.
//                As etcd, an active NOSPACE alarm leaves a member ready: it still serves reads.
// Other methods: 405 "Method Not Allowed".
#include "core/api/client_listener.h"
#include "core/server/member.h"

namespace outpost::api {

HttpHandler health_handler(server::Member& m);
HttpHandler livez_handler(server::Member& m);
HttpHandler readyz_handler(server::Member& m);

}  // namespace outpost::api
