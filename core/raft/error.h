#pragma once
// Outcome codes of the Raft library. The library never throws on a normal path: every call that
// can fail for a reason the caller should handle returns one of these, and [[nodiscard]] makes
// the compiler flag a caller that drops one.

#include <cstdint>
#include <string_view>

namespace outpost::raft {

enum class [[nodiscard]] Error : std::uint8_t{
    kOk = 0,
    // The proposal could not be accepted here (no leader known, leadership transfer in progress,
    // uncommitted-size limit reached, or this member is not part of the configuration). Retry
    // later.
    kProposalDropped,
    // The requested index lies before the first index still kept in the log (it was compacted).
    kCompacted,
    // The requested index lies after the last index of the log.
    kUnavailable,
    // The snapshot being installed is older than the one already held.
    kSnapOutOfDate,
    // Storage cannot produce a snapshot right now; the leader retries later.
    kSnapshotTemporarilyUnavailable,
    // A local-only message (MsgHup, MsgBeat, ...) was handed to step() from the network.
    kStepLocalMsg,
    // A response from a peer this member does not track.
    kStepPeerNotFound,
};

constexpr std::string_view to_string(Error e) {
  switch (e) {
    case Error::kOk: return "ok";
    case Error::kProposalDropped: return "raft proposal dropped";
    case Error::kCompacted: return "requested index is unavailable due to compaction";
    case Error::kUnavailable: return "requested entry at index is unavailable";
    case Error::kSnapOutOfDate: return "requested index is older than the existing snapshot";
    case Error::kSnapshotTemporarilyUnavailable: return "snapshot is temporarily unavailable";
    case Error::kStepLocalMsg: return "raft: cannot step raft local message";
    case Error::kStepPeerNotFound: return "raft: cannot step as peer not found";
  }
  return "unknown";
}

}  // namespace outpost::raft
