#pragma once
// propose_and_finish: the common end of every write RPC: propose the request to the member and
// finish the call once the entry is applied (header filled) or failed.
#include "core/api/errors.h"
#include "core/api/services.h"

namespace outpost::api {

template <class Call>
void propose_and_finish(server::Member& m, Call* call, outpostpb::Request r) {
  // Who asks: the applier checks the request again with it (core/auth/request_check.h).
  r.set_auth_user(call->caller.user);
  r.set_auth_revision(call->caller.revision);
  m.propose(std::move(r), &call->resp, [&m, call](const Status& s) {
    if (s) fill_header(m, call->resp.mutable_header());
    call->finish(to_grpc(s));
  });
}

}  // namespace outpost::api
