// libFuzzer target: a snapshot stream as SnapshotReceiver::on_event reads it
// (core/server/snapshot_stream.cc), after the handshake: frames (core/transport/frame.h, the
// snapshot form: no envelope, an empty frame ends the stream); the first is the MsgSnap, each
// later one whole state records (core/storage/state_records.h) for the column families the
// staging engine takes (0 and 1).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/storage/state_records.h"
#include "core/transport/frame.h"
#include "raftpb/raft.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace outpost::transport;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  bool first = true, ignore = false;
  uint64_t records = 0, bytes = 0;
  for (;;) {
    Frame f;
    const FrameStatus st = next_frame(rest, 1 << 20, /*snapshot=*/true, &f);
    if (st != FrameStatus::kFrame) break;
    if (f.kind != MessageKind::kRaft || f.size != 4 + f.payload.size()) std::abort();
    rest.remove_prefix(f.size);
    if (f.payload.empty()) break;  // the end of the stream
    if (first) {
      first = false;
      raftpb::Message m;
      ignore =
          !m.ParseFromArray(f.payload.data(), int(f.payload.size())) || m.type() != raftpb::MsgSnap;
      if (!ignore) (void)m.snapshot().metadata().index();
      continue;
    }
    if (ignore) continue;
    const bool whole = outpost::storage::for_each_state_record(
        f.payload, [&](int cf, std::string_view k, std::string_view v) {
          if (cf < 0 || cf > 255) std::abort();
          if (k.data() < f.payload.data() || v.data() + v.size() > f.payload.end()) std::abort();
          bytes += k.size() + v.size();
          ++records;
          return cf <= 1;  // Engine::Staging::put refuses any other column family
        });
    if (!whole) ignore = true;
  }
  return 0;
}
