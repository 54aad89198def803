#pragma once
// The pure part of reading an inbound peer connection (transport.h describes the wire format):
// bytes in, the handshake or the next frame (or why the connection must be dropped) out. No
// sockets and no state: Transport feeds it what a connection has buffered, and the fuzz target
// (tests/fuzz/fuzz_peer_frames.cc) feeds it anything.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace outpost::transport {

// The envelope of a frame on a message connection: what its payload is.
enum class MessageKind : uint8_t {
  kRaft = 1,              // raftpb.Message
  kLeaderCall = 2,        // outpostpb.LeaderCall: a call only the leader answers
  kLeaderCallAnswer = 3,  // outpostpb.LeaderCallAnswer
  kProposalRefused = 4,   // outpostpb.ProposalRefused: the leader refused a forwarded proposal
  kLeaderState = 5,       // outpostpb.LeaderState: the leader's progress, sent to learners
};
bool known_kind(uint8_t k);

// magic (4) | version (1) | cluster id (8) | sender member id (8)
inline constexpr char kMagic[4] = {'O', 'U', 'T', 'P'};       // a message connection
inline constexpr char kSnapMagic[4] = {'O', 'U', 'T', 'S'};   // a snapshot stream
inline constexpr char kQueryMagic[4] = {'O', 'U', 'T', 'Q'};  // a joining member's question
inline constexpr size_t kHandshakeLen = 4 + 1 + 8 + 8;
// 2: frames on a message connection carry the envelope (MessageKind byte, then the payload).
inline constexpr uint8_t kProtocolVersion = 2;

enum class ConnectionKind { kUnknown, kMessages, kSnapshot, kQuery };  // by magic
struct Handshake {
  ConnectionKind kind = ConnectionKind::kUnknown;
  uint8_t version = 0;
  uint64_t cluster_id = 0;
  uint64_t from = 0;
};
// Decodes the first kHandshakeLen bytes of buf (which must hold that many).
Handshake decode_handshake(std::string_view buf);

struct Frame {
  size_t size = 0;  // bytes the frame takes off the buffer: length prefix, envelope, payload
  MessageKind kind = MessageKind::kRaft;  // always kRaft on a snapshot stream
  std::string_view payload;               // without the envelope; points into the buffer
};
enum class FrameStatus {
  kFrame,        // *out is the next frame
  kNeedMore,     // buf does not hold a whole frame yet
  kTooLarge,     // the length prefix is above max_frame_bytes: drop the connection
  kUnknownKind,  // a message frame without a known MessageKind: drop the connection
};
// The first frame of buf (what follows the handshake). snapshot: a snapshot stream's frames
// (no envelope; an empty frame ends the stream).
FrameStatus next_frame(std::string_view buf, size_t max_frame_bytes, bool snapshot, Frame* out);
// Why the connection is dropped, for kTooLarge and kUnknownKind.
const char* frame_error(FrameStatus s);

}  // namespace outpost::transport
