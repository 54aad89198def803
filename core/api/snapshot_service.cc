// Maintenance.Snapshot: the member's whole state as a snapshot file (core/server/snapshot_file.h),
// streamed as etcd streams its bolt database, so `etcdctl snapshot save` works unchanged: blobs
// of 32 KiB with remaining_bytes counting down to 0, then one more message holding the SHA-256
// of all the blobs (etcdctl checks that the length is 32 past a multiple of 512, and restore
// checks the digest). Root only under auth, as etcd.
//
// The file is written first, under <data-dir>/member (snapshot-<pid>-<n>.tmp, removed when the
// call ends; one a dead process left is removed by the next call), from one point-in-time view of
// the state (writes go on meanwhile), then streamed from disk, one write in flight at a time, on a
// thread of the call's own ("snap-save"), so no gRPC thread waits on the disk or on a slow client.
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "core/api/auth.h"
#include "core/api/errors.h"
#include "core/api/services.h"
#include "core/api/unary.h"
#include "core/common/log.h"
#include "core/server/snapshot_file.h"

namespace outpost::api {

namespace {

constexpr size_t kBlobBytes = 32 * 1024;  // etcd's snapshotSendBufferSize

class SnapshotStream final : public grpc::ServerWriteReactor<Raw> {
 public:
  SnapshotStream(server::Member& m, const grpc::Status& refused) {
    if (!refused.ok()) {
      Finish(refused);
      return;
    }
    std::thread([this, &m, sh = shared_] {
      pthread_setname_np(pthread_self(), "snap-save");
      run(m, *sh);
    }).detach();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard l(shared_->mu);
    shared_->written = true;
    if (!ok) shared_->cancelled = true;
    shared_->cv.notify_all();
  }
  void OnCancel() override {
    std::lock_guard l(shared_->mu);
    shared_->cancelled = true;
    shared_->cv.notify_all();
  }
  void OnDone() override { delete this; }

 private:
  // What the streaming thread and gRPC's callbacks share; outlives the reactor.
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool written = false;
    std::atomic<bool> cancelled{false};
  };

  // Sends resp_ and waits for it to go out; false when the call is over.
  bool send(Shared& sh) {
    {
      std::lock_guard l(sh.mu);
      if (sh.cancelled) return false;
      sh.written = false;
    }
    bool own = false;
    out_.Clear();  // the serializer wants an empty buffer
    (void)grpc::SerializationTraits<pb::SnapshotResponse>::Serialize(resp_, &out_, &own);
    StartWrite(&out_);
    std::unique_lock l(sh.mu);
    sh.cv.wait(l, [&] { return sh.written || sh.cancelled; });
    return !sh.cancelled;
  }

  // The last thing run() does with the reactor: after Finish, OnDone may delete it.
  void run(server::Member& m, Shared& sh) {
    static std::atomic<uint64_t> seq{0};
    const std::string dir = m.data_dir() + "/member", own = "snapshot-" + std::to_string(getpid());
    remove_stale(dir, own);
    const std::string path = dir + "/" + own + "-" + std::to_string(++seq) + ".tmp";
    grpc::Status result = stream(m, sh, path);
    std::error_code ec;
    std::filesystem::remove(path, ec);
    Finish(result);
  }

  // Files an earlier process left behind when it died in the middle of a snapshot.
  static void remove_stale(const std::string& dir, const std::string& own) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("snapshot-", 0) == 0 && name.size() > 4 &&
          name.compare(name.size() - 4, 4, ".tmp") == 0 && name.rfind(own + "-", 0) != 0)
        std::filesystem::remove(e.path(), ec);
    }
  }

  grpc::Status stream(server::Member& m, Shared& sh, const std::string& path) {
    auto written =
        server::write_snapshot_file([&m](const auto& fn) { return m.store().scan_state(fn); }, path,
                                    [&sh] { return sh.cancelled.load(); });
    if (!written) {
      if (sh.cancelled) return grpc::Status::CANCELLED;
      OUTPOST_LOG(kWarn, "failed to make a snapshot for a client",
                  log::kv("error", written.status().message()));
      return to_grpc(written.status());
    }
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return grpc::Status(grpc::StatusCode::INTERNAL, "cannot read the snapshot file");
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, std::fclose);
    std::error_code ec;
    const uint64_t total =
        uint64_t(std::filesystem::file_size(path, ec)) - server::kSnapshotHashBytes;
    OUTPOST_LOG(kInfo, "sending database snapshot to client", log::kv("total-bytes", total),
                log::kv("revision", written.value().revision));
    std::string buf(kBlobBytes, '\0');
    uint64_t sent = 0;
    while (sent < total) {
      const size_t n =
          std::fread(buf.data(), 1, size_t(std::min<uint64_t>(kBlobBytes, total - sent)), f);
      if (n == 0) return grpc::Status(grpc::StatusCode::INTERNAL, "cannot read the snapshot file");
      sent += n;
      resp_.set_remaining_bytes(total - sent);
      resp_.set_blob(buf.data(), n);
      if (!send(sh)) return grpc::Status::CANCELLED;
    }
    // The digest, as etcd sends it: its own message, remaining_bytes 0.
    if (std::fread(buf.data(), 1, server::kSnapshotHashBytes, f) != server::kSnapshotHashBytes)
      return grpc::Status(grpc::StatusCode::INTERNAL, "cannot read the snapshot file");
    resp_.set_remaining_bytes(0);
    resp_.set_blob(buf.data(), server::kSnapshotHashBytes);
    if (!send(sh)) return grpc::Status::CANCELLED;
    OUTPOST_LOG(kInfo, "sent database snapshot to client", log::kv("total-bytes", total));
    return grpc::Status::OK;
  }

  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  pb::SnapshotResponse resp_;
  Raw out_;  // resp_ serialized, alive until its write is done
};

}  // namespace

grpc::ServerWriteReactor<Raw>* MaintenanceService::Snapshot(RawCtx* ctx, const Raw* in) {
  // Raw, so a malformed request gets etcd's answer (unary.h).
  pb::SnapshotRequest req;
  Raw copy(*in);
  grpc::ProtoBufferReader reader(&copy);
  if (!req.ParseFromZeroCopyStream(&reader))
    return new SnapshotStream(
        m_, grpc::Status(grpc::StatusCode::INTERNAL,
                         "grpc: error unmarshalling request: invalid wire-format data for " +
                             req.GetTypeName()));
  // Root only, as etcd; its authMaintenanceServer returns auth errors unconverted.
  auto ai = resolve_caller_now(m_, credentials_of(ctx), o_.client_cert_auth);
  outpost::Status s = ai.status();
  if (ai) s = authorize(m_, ai.value(), req);
  return new SnapshotStream(m_, s ? grpc::Status::OK : to_grpc_unconverted_auth(s));
}

}  // namespace outpost::api
