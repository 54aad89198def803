// libFuzzer target: an inbound peer connection's bytes (core/transport/frame.h, the code
// Transport::on_inbound_frames runs), then each frame's payload decoded as its MessageKind says
// (what RaftNode::on_peer_message and LeaderCalls parse). The input is the connection from its
// first byte: the handshake, then frames, delivered in two reads split where the first input
// byte says, so a frame cut between reads is exercised too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/storage/state_records.h"
#include "core/transport/frame.h"
#include "outpostpb/internal.pb.h"
#include "raftpb/raft.pb.h"

namespace {

using namespace outpost::transport;

constexpr size_t kMaxFrame = 1 << 16;

void decode_payload(bool snapshot, bool first, const Frame& f) {
  if (snapshot) {
    if (first) {
      raftpb::Message m;
      (void)m.ParseFromArray(f.payload.data(), int(f.payload.size()));
      return;
    }
    (void)outpost::storage::for_each_state_record(
        f.payload, [](int, std::string_view, std::string_view) { return true; });
    return;
  }
  const void* p = f.payload.data();
  const int n = int(f.payload.size());
  switch (f.kind) {
    case MessageKind::kRaft: {
      raftpb::Message m;
      (void)m.ParseFromArray(p, n);
      return;
    }
    case MessageKind::kLeaderCall: {
      outpostpb::LeaderCall c;
      (void)c.ParseFromArray(p, n);
      return;
    }
    case MessageKind::kLeaderCallAnswer: {
      outpostpb::LeaderCallAnswer a;
      (void)a.ParseFromArray(p, n);
      return;
    }
    case MessageKind::kProposalRefused: {
      outpostpb::ProposalRefused r;
      (void)r.ParseFromArray(p, n);
      return;
    }
    case MessageKind::kLeaderState: {
      outpostpb::LeaderState s;
      (void)s.ParseFromArray(p, n);
      return;
    }
  }
  std::abort();  // next_frame returned a kind it does not know
}

// What one connection does with its buffer: false when it is dropped.
bool drain(std::string& buf, size_t& off, bool& handshaken, bool& snapshot, size_t& frames) {
  if (!handshaken) {
    if (buf.size() < kHandshakeLen) return true;
    const Handshake h = decode_handshake(buf);
    if (h.kind != ConnectionKind::kMessages && h.kind != ConnectionKind::kSnapshot) return false;
    if (h.version != kProtocolVersion) return false;
    snapshot = h.kind == ConnectionKind::kSnapshot;
    handshaken = true;
    off = kHandshakeLen;
  }
  for (;;) {
    Frame f;
    const std::string_view rest = std::string_view(buf).substr(off);
    const FrameStatus st = next_frame(rest, kMaxFrame, snapshot, &f);
    if (st == FrameStatus::kNeedMore) return true;
    if (st != FrameStatus::kFrame) {
      if (*frame_error(st) == '\0') std::abort();
      return false;
    }
    // The frame lies inside what was buffered.
    if (f.size < 4 || f.size > rest.size() || f.payload.data() < rest.data() ||
        f.payload.data() + f.payload.size() > rest.data() + f.size)
      std::abort();
    decode_payload(snapshot, frames == 0, f);
    ++frames;
    off += f.size;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t split = size > 1 ? size_t(data[0]) % size : 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string buf;
  size_t off = 0, frames = 0;
  bool handshaken = false, snapshot = false;
  buf.append(in.substr(0, split));
  if (!drain(buf, off, handshaken, snapshot, frames)) return 0;
  buf.append(in.substr(split));
  (void)drain(buf, off, handshaken, snapshot, frames);
  return 0;
}
