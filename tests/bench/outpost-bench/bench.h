// The benchmarks (one function per command) and the steps they share: waiting for the clients,
// turning a finished Run into a RunResult, printing it and choosing the exit status.
#pragma once

#include <string>
#include <vector>

#include "driver.h"
#include "flags.h"
#include "report.h"

namespace outpost::bench {

// Exit statuses (also in usage()).
inline constexpr int kExitOk = 0;
inline constexpr int kExitErrors = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnsupported = 3;

int run_put(const Options& o);
int run_range(const Options& o);
int run_txn_put(const Options& o);
int run_watch_latency(const Options& o);
int run_lease_keepalive(const Options& o);

// Waits for every client of `run` (the deadline plus a grace period at most), then shuts the
// queues down. If a client is still stuck after that, prints why and ends the process (its
// handlers may still be in use, so nothing can be torn down safely).
void finish_clients(Run& run, Connections& conns);

// Prints the result (report or JSON) and returns the exit status. `feature` names what an
// UNIMPLEMENTED answer means is missing ("watch", "lease"); empty: UNIMPLEMENTED is an ordinary
// error.
int print_result(const Options& o, RunResult& result, const Run& run, const std::string& feature);

// The channel credentials the options ask for: TLS (--cacert/--cert/--key, or an https://
// endpoint) or insecure. Exits with kExitUsage when a file cannot be read.
std::shared_ptr<grpc::ChannelCredentials> credentials(const Options& o);

// With --user: authenticates at the first endpoint (a simple token is valid on every member)
// and keeps the token for authorize(). "" or the error.
std::string authenticate(const Options& o, const std::shared_ptr<grpc::ChannelCredentials>& creds);
// Adds the token (if any) to a call's metadata; call before the call starts.
void authorize(grpc::ClientContext* ctx);

// `size` bytes: zeros with the zig-zag varint of `n` at the front (etcd's benchmark keys).
std::string varint_key(int64_t n, int size);
std::string random_bytes(size_t size, uint64_t seed);

}  // namespace outpost::bench
