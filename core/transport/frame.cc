#include "core/transport/frame.h"

#include <cstring>

namespace outpost::transport {
namespace {

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | uint8_t(p[i]);
  return v;
}

}  // namespace

bool known_kind(uint8_t k) {
  return k >= uint8_t(MessageKind::kRaft) && k <= uint8_t(MessageKind::kLeaderState);
}

Handshake decode_handshake(std::string_view buf) {
  Handshake h;
  const char* p = buf.data();
  if (std::memcmp(p, kMagic, 4) == 0) {
    h.kind = ConnectionKind::kMessages;
  } else if (std::memcmp(p, kSnapMagic, 4) == 0) {
    h.kind = ConnectionKind::kSnapshot;
  } else if (std::memcmp(p, kQueryMagic, 4) == 0) {
    h.kind = ConnectionKind::kQuery;
  }
  h.version = uint8_t(p[4]);
  h.cluster_id = get_u64(p + 5);
  h.from = get_u64(p + 13);
  return h;
}

FrameStatus next_frame(std::string_view buf, size_t max_frame_bytes, bool snapshot, Frame* out) {
  if (buf.size() < 4) return FrameStatus::kNeedMore;
  const auto* p = reinterpret_cast<const uint8_t*>(buf.data());
  const size_t len = (size_t(p[0]) << 24) | (size_t(p[1]) << 16) | (size_t(p[2]) << 8) | p[3];
  if (len > max_frame_bytes) return FrameStatus::kTooLarge;
  if (buf.size() - 4 < len) return FrameStatus::kNeedMore;
  if (!snapshot && (len == 0 || !known_kind(p[4]))) return FrameStatus::kUnknownKind;
  // A message frame's first byte is its kind (the envelope), not payload.
  const size_t skip = snapshot ? 0 : 1;
  out->size = 4 + len;
  out->kind = snapshot ? MessageKind::kRaft : MessageKind(p[4]);
  out->payload = buf.substr(4 + skip, len - skip);
  return FrameStatus::kFrame;
}

const char* frame_error(FrameStatus s) {
  switch (s) {
    case FrameStatus::kTooLarge: return "frame larger than the limit";
    case FrameStatus::kUnknownKind: return "frame without a known message kind";
    case FrameStatus::kFrame:
    case FrameStatus::kNeedMore: break;
  }
  return "";
}

}  // namespace outpost::transport
