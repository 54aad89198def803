#pragma once
// Snapshot files: a member's whole state as a client saves it (Maintenance.Snapshot,
// `etcdctl snapshot save`), read back by `outpost snapshot status` and turned into a new data
// directory by `outpost snapshot restore`.
//
// Layout (integers big-endian):
//   header, 64 bytes:  magic "OUTPSNAP" (8) | format version (4) | header length (4) |
//                      revision (8) | compact revision (8, -1: never compacted) |
//                      raft index (8: the consistent index of the state) | record count (8) |
//                      record bytes (8) | CRC-32C of the record bytes (4) | reserved (4)
//   records:           every kv and meta record as of one point in time, in the byte form of
//                      the Raft snapshot stream (core/storage/state_records.h)
//   zero padding       to a multiple of 512 bytes: etcdctl takes a file whose length is 32 past
//                      a multiple of 512 as one that ends with its SHA-256 (hasChecksum)
//   SHA-256 (32)       of everything before it; etcd's restore checks the same digest
//
// The file is written to a temporary path first, then streamed; a saved snapshot is exactly the
// bytes the stream carried.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/common/status.h"

namespace outpost::server {

inline constexpr size_t kSnapshotHeaderBytes = 64;
inline constexpr size_t kSnapshotHashBytes = 32;
inline constexpr uint32_t kSnapshotFormatVersion = 1;

struct SnapshotHeader {
  uint32_t version = kSnapshotFormatVersion;
  int64_t revision = 0;
  int64_t compact_revision = -1;
  uint64_t raft_index = 0;
  uint64_t records = 0;
  uint64_t record_bytes = 0;
  uint32_t records_crc = 0;

  std::string encode() const;
  // Checks magic, version and length; `what` names the file in errors.
  static Result<SnapshotHeader> decode(std::string_view raw, const std::string& what);
};

// Feeds every state record to the callback, at one point in time (mvcc::Store::scan_state).
using StateScan = std::function<Status(
    const std::function<bool(int cf, std::string_view key, std::string_view value)>&)>;

// Writes a snapshot file of the scanned state at path (replaced if present). cancelled, when
// given, is polled between records. Returns the header written.
Result<SnapshotHeader> write_snapshot_file(const StateScan& scan, const std::string& path,
                                           const std::function<bool()>& cancelled = {});

// What `snapshot status` reports, with etcdctl's names: hash (CRC-32C over every record's key and
// value), the revision, the number of records, the file's size without its SHA-256.
struct SnapshotStatus {
  uint32_t hash = 0;
  int64_t revision = 0;
  uint64_t total_key = 0;
  uint64_t total_size = 0;
  SnapshotHeader header;
};
// Reads and checks the file's structure (header, records, record CRC); not the SHA-256.
Result<SnapshotStatus> snapshot_file_status(const std::string& path);

// Checks the trailing SHA-256 against the content.
Status verify_snapshot_hash(const std::string& path);

// Calls fn for every record of the file in order (the structure is checked as for status).
Status read_snapshot_records(
    const std::string& path,
    const std::function<Status(int cf, std::string_view key, std::string_view value)>& fn,
    SnapshotHeader* header = nullptr);

// `outpost snapshot restore`, etcd's flags.
struct RestoreOptions {
  std::string snapshot_path;
  std::string name = "default";
  std::string data_dir;  // "": <name>.etcd
  std::vector<std::pair<std::string, std::vector<std::string>>> initial_cluster;
  std::string cluster_token = "etcd-cluster";
  std::vector<std::string> advertise_peer_urls;
  bool skip_hash_check = false;
};
// Makes a data directory holding the saved state as a member of a NEW cluster: cluster and
// member ids derived from initial_cluster and the token as a fresh cluster derives them, the old
// membership dropped, the consistent index at 0 to match a Raft log that starts empty (as a
// fresh cluster's), the revision continuing from the saved one. Errors read as etcd's.
Status restore_snapshot(const RestoreOptions& opts);

}  // namespace outpost::server
