#pragma once
// Outcome codes of the Raft library. The library never throws on a normal path: every call that
// can fail for a reason the caller should handle returns one of these, and [[nodiscard]] makes
// the compiler flag a caller that drops one.

#include <cstdint>
#include <string_view>

namespace outpost::raft {

enum class [[nodiscard]] Error : std::uint8_t {
  ok = 0,
  // The proposal could not be accepted here (no leader known, leadership transfer in progress,
  // uncommitted-size limit reached, or this member is not part of the configuration). Retry later.
  proposal_dropped,
  // The requested index lies before the first index still kept in the log (it was compacted).
  compacted,
  // The requested index lies after the last index of the log.
  unavailable,
  // The snapshot being installed is older than the one already held.
  snap_out_of_date,
  // Storage cannot produce a snapshot right now; the leader retries later.
  snapshot_temporarily_unavailable,
  // A local-only message (MsgHup, MsgBeat, ...) was handed to step() from the network.
  step_local_msg,
  // A response from a peer this member does not track.
  step_peer_not_found,
};

constexpr std::string_view to_string(Error e) {
  switch (e) {
    case Error::ok: return "ok";
    case Error::proposal_dropped: return "raft proposal dropped";
    case Error::compacted: return "requested index is unavailable due to compaction";
    case Error::unavailable: return "requested entry at index is unavailable";
    case Error::snap_out_of_date: return "requested index is older than the existing snapshot";
    case Error::snapshot_temporarily_unavailable: return "snapshot is temporarily unavailable";
    case Error::step_local_msg: return "raft: cannot step raft local message";
    case Error::step_peer_not_found: return "raft: cannot step as peer not found";
  }
  return "unknown";
}

}  // namespace outpost::raft
