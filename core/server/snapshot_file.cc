#include "core/server/snapshot_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "core/common/crc32c.h"
#include "core/common/sha256.h"
#include "core/mvcc/store.h"
#include "core/server/cluster_record.h"
#include "core/server/membership.h"
#include "core/storage/engine.h"
#include "core/storage/state_records.h"

namespace outpost::server {

namespace {

constexpr std::string_view kMagic = "OUTPSNAP";
constexpr size_t kPadTo = 512;  // etcdctl's hasChecksum: length % 512 == 32
constexpr size_t kIoChunk = 1 << 20;

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

Status errno_status(const std::string& what) {
  return Status::io(what + ": " + std::strerror(errno));
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(char((v >> (8 * i)) & 0xff));
}
uint32_t get_u32(std::string_view s) {
  return (uint32_t(uint8_t(s[0])) << 24) | (uint32_t(uint8_t(s[1])) << 16) |
         (uint32_t(uint8_t(s[2])) << 8) | uint8_t(s[3]);
}

std::string hex(std::string_view b) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (char c : b) {
    out.push_back(d[uint8_t(c) >> 4]);
    out.push_back(d[uint8_t(c) & 15]);
  }
  return out;
}

// etcd's os.Stat error for a missing file.
Result<uint64_t> file_size(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory)
      return Status::io("stat " + path + ": no such file or directory");
    return Status::io("stat " + path + ": " + ec.message());
  }
  return uint64_t(size);
}

bool read_exact(std::FILE* f, size_t n, std::string* out) {
  out->resize(n);
  return n == 0 || std::fread(out->data(), 1, n, f) == n;
}

}  // namespace

std::string SnapshotHeader::encode() const {
  std::string out(kMagic);
  put_u32(out, version);
  put_u32(out, uint32_t(kSnapshotHeaderBytes));
  out += storage::encode_u64(uint64_t(revision));
  out += storage::encode_u64(uint64_t(compact_revision));
  out += storage::encode_u64(raft_index);
  out += storage::encode_u64(records);
  out += storage::encode_u64(record_bytes);
  put_u32(out, records_crc);
  put_u32(out, 0);
  return out;
}

Result<SnapshotHeader> SnapshotHeader::decode(std::string_view raw, const std::string& what) {
  if (raw.size() < kMagic.size() || raw.substr(0, kMagic.size()) != kMagic)
    return Status(ErrorCode::kCorrupt,
                  what +
                      " is not an Outpost snapshot (no \"OUTPSNAP\" header; an etcd snapshot "
                      "must be restored with etcdctl)");
  if (raw.size() < kSnapshotHeaderBytes)
    return Status(ErrorCode::kCorrupt, what + " is truncated (incomplete header)");
  SnapshotHeader h;
  h.version = get_u32(raw.substr(8));
  if (h.version != kSnapshotFormatVersion)
    return Status(ErrorCode::kCorrupt, what + ": unsupported snapshot format version " +
                                           std::to_string(h.version) + " (this build reads " +
                                           std::to_string(kSnapshotFormatVersion) + ")");
  if (get_u32(raw.substr(12)) != kSnapshotHeaderBytes)
    return Status(ErrorCode::kCorrupt, what + ": bad header length");
  h.revision = int64_t(storage::decode_u64(raw.substr(16)));
  h.compact_revision = int64_t(storage::decode_u64(raw.substr(24)));
  h.raft_index = storage::decode_u64(raw.substr(32));
  h.records = storage::decode_u64(raw.substr(40));
  h.record_bytes = storage::decode_u64(raw.substr(48));
  h.records_crc = get_u32(raw.substr(56));
  return h;
}

Result<SnapshotHeader> write_snapshot_file(const StateScan& scan, const std::string& path,
                                           const std::function<bool()>& cancelled) {
  File f(std::fopen(path.c_str(), "w+b"));
  if (!f) return errno_status("cannot create " + path);
  SnapshotHeader h;
  std::string buf = h.encode();  // a placeholder until the counts are known
  Crc32c crc;
  bool io_ok = true, stopped = false;
  int64_t max_rev = 0, meta_rev = 0;
  auto meta_i64 = [](std::string_view v) { return int64_t(storage::decode_u64(v)); };
  auto drain = [&](size_t keep_below) {
    if (buf.size() < keep_below) return;
    io_ok = io_ok && std::fwrite(buf.data(), 1, buf.size(), f.get()) == buf.size();
    buf.clear();
  };
  Status s = scan([&](int cf, std::string_view k, std::string_view v) {
    if (cancelled && (h.records & 1023) == 0 && cancelled()) {
      stopped = true;
      return false;
    }
    const size_t before = buf.size();
    storage::append_state_record(buf, cf, k, v);
    crc.update(std::string_view(buf).substr(before));
    h.record_bytes += buf.size() - before;
    ++h.records;
    if (cf == 0 && k.size() >= 8) {
      max_rev = std::max(max_rev, int64_t(storage::decode_u64(k)));
    } else if (cf == 1 && v.size() == 8) {
      if (k == mvcc::kMetaCurrentRev) meta_rev = std::max(meta_rev, meta_i64(v));
      if (k == mvcc::kMetaFinishedCompact) h.compact_revision = meta_i64(v);
      if (k == mvcc::kMetaConsistentIndex) h.raft_index = storage::decode_u64(v);
    }
    drain(kIoChunk);
    return io_ok;
  });
  if (!s) return s;
  if (stopped) return Status(ErrorCode::kStopped, "snapshot cancelled");
  // The store's own rule (mvcc::Store::open): the highest of the records, the marks, 1.
  h.revision = std::max({int64_t(1), max_rev, meta_rev, h.compact_revision});
  h.records_crc = crc.value();
  const uint64_t body = kSnapshotHeaderBytes + h.record_bytes;
  buf.append(size_t((kPadTo - body % kPadTo) % kPadTo), '\0');
  drain(0);
  // The header, now complete, then the digest of the whole body.
  const std::string head = h.encode();
  io_ok = io_ok && std::fseek(f.get(), 0, SEEK_SET) == 0 &&
          std::fwrite(head.data(), 1, head.size(), f.get()) == head.size() &&
          std::fseek(f.get(), 0, SEEK_SET) == 0;
  if (!io_ok) return errno_status("cannot write " + path);
  Sha256 sha;
  std::string chunk(kIoChunk, '\0');
  size_t n = 0;
  while ((n = std::fread(chunk.data(), 1, chunk.size(), f.get())) > 0)
    sha.update(std::string_view(chunk.data(), n));
  const std::string digest = sha.digest();
  if (std::ferror(f.get()) || std::fseek(f.get(), 0, SEEK_END) != 0 ||
      std::fwrite(digest.data(), 1, digest.size(), f.get()) != digest.size() ||
      std::fflush(f.get()) != 0)
    return errno_status("cannot write " + path);
  return h;
}

Status verify_snapshot_hash(const std::string& path) {
  auto size = file_size(path);
  if (!size) return size.status();
  if (size.value() % kPadTo != kSnapshotHashBytes)
    return Status(ErrorCode::kCorrupt, "snapshot missing hash but --skip-hash-check=false");
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) return errno_status("open " + path);
  Sha256 sha;
  uint64_t left = size.value() - kSnapshotHashBytes;
  std::string chunk;
  while (left > 0) {
    const size_t n = size_t(std::min<uint64_t>(left, kIoChunk));
    if (!read_exact(f.get(), n, &chunk)) return errno_status("read " + path);
    sha.update(chunk);
    left -= n;
  }
  std::string want;
  if (!read_exact(f.get(), kSnapshotHashBytes, &want)) return errno_status("read " + path);
  const std::string got = sha.digest();
  if (got != want)
    return Status(ErrorCode::kCorrupt, "expected sha256 " + hex(want) + ", got " + hex(got));
  return Status::ok();
}

Status read_snapshot_records(
    const std::string& path,
    const std::function<Status(int, std::string_view, std::string_view)>& fn,
    SnapshotHeader* header) {
  auto size = file_size(path);
  if (!size) return size.status();
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) return errno_status("open " + path);
  std::string raw;
  const size_t head_len = size_t(std::min<uint64_t>(size.value(), kSnapshotHeaderBytes));
  if (!read_exact(f.get(), head_len, &raw)) return errno_status("read " + path);
  auto h = SnapshotHeader::decode(raw, path);
  if (!h) return h.status();
  // (Written so that a record_bytes near 2^64 cannot wrap the sum round and pass.)
  if (size.value() < kSnapshotHeaderBytes + kSnapshotHashBytes ||
      h.value().record_bytes > size.value() - kSnapshotHeaderBytes - kSnapshotHashBytes)
    return Status(ErrorCode::kCorrupt, path + " is truncated (" + std::to_string(size.value()) +
                                           " bytes; the header promises more)");
  Crc32c crc;
  uint64_t left = h.value().record_bytes, records = 0;
  std::string buf, chunk;
  while (left > 0) {
    const size_t n = size_t(std::min<uint64_t>(left, kIoChunk));
    if (!read_exact(f.get(), n, &chunk)) return errno_status("read " + path);
    left -= n;
    crc.update(chunk);
    buf += chunk;
    std::string_view rest(buf);
    int cf = 0;
    std::string_view k, v;
    while (storage::next_state_record(rest, &cf, &k, &v)) {
      ++records;
      if (Status s = fn(cf, k, v); !s) return s;
    }
    buf.erase(0, buf.size() - rest.size());
  }
  if (!buf.empty() || records != h.value().records || crc.value() != h.value().records_crc)
    return Status(ErrorCode::kCorrupt, path + ": snapshot records are corrupt");
  if (header) *header = h.value();
  return Status::ok();
}

Result<SnapshotStatus> snapshot_file_status(const std::string& path) {
  SnapshotStatus st;
  Crc32c hash;
  Status s = read_snapshot_records(
      path,
      [&](int, std::string_view k, std::string_view v) {
        hash.update(k);
        hash.update(v);
        return Status::ok();
      },
      &st.header);
  if (!s) return s;
  st.hash = hash.value();
  st.revision = st.header.revision;
  st.total_key = st.header.records;
  auto size = file_size(path);
  if (!size) return size.status();
  st.total_size = size.value() - kSnapshotHashBytes;
  return st;
}

Status restore_snapshot(const RestoreOptions& opts) {
  // etcd's order: the cluster flags, the data directory, then the file.
  const std::vector<std::string>* local_urls = nullptr;
  std::set<std::string> seen;
  for (const auto& [name, urls] : opts.initial_cluster) {
    if (name == opts.name) local_urls = &urls;
    for (const auto& u : urls)
      if (!seen.insert(u).second)
        return Status(ErrorCode::kInternal, "initial cluster has duplicate url " + u);
  }
  if (!local_urls)
    return Status(ErrorCode::kInternal, "couldn't find local name \"" + opts.name +
                                            "\" in the initial cluster configuration");
  {
    auto a = opts.advertise_peer_urls, b = *local_urls;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (a != b) {
      std::string want, got;
      for (const auto& u : b) want += (want.empty() ? "" : ",") + opts.name + "=" + u;
      for (const auto& u : a) got += (got.empty() ? "" : ",") + u;
      return Status(ErrorCode::kInternal, "--initial-cluster has " + want +
                                              " but missing from "
                                              "--initial-advertise-peer-urls=" +
                                              got);
    }
  }
  const std::string dir = opts.data_dir.empty() ? opts.name + ".etcd" : opts.data_dir;
  std::error_code ec;
  if (std::filesystem::exists(dir, ec))
    return Status(ErrorCode::kInternal, "data-dir \"" + dir + "\" exists");
  // The whole file is checked before anything is written.
  if (auto size = file_size(opts.snapshot_path); !size) return size.status();
  {
    // A file that is not ours says so before anything else (not "missing hash").
    File f(std::fopen(opts.snapshot_path.c_str(), "rb"));
    if (!f) return errno_status("open " + opts.snapshot_path);
    std::string raw(kSnapshotHeaderBytes, '\0');
    raw.resize(std::fread(raw.data(), 1, raw.size(), f.get()));
    if (auto h = SnapshotHeader::decode(raw, opts.snapshot_path); !h) return h.status();
  }
  if (!opts.skip_hash_check)
    if (Status s = verify_snapshot_hash(opts.snapshot_path); !s) return s;
  if (auto st = snapshot_file_status(opts.snapshot_path); !st) return st.status();

  auto engine = storage::Engine::open(dir);
  if (!engine) return engine.status();
  storage::Engine& e = *engine.value();
  auto batch = e.new_batch();
  size_t pending = 0;
  Status s = read_snapshot_records(
      opts.snapshot_path, [&](int cf, std::string_view k, std::string_view v) -> Status {
        if (cf == 0) {
          batch.put_kv(k, v);
        } else {
          // The old membership and the old log's position stay behind.
          if (k == ClusterRecord::kMetaKey || k == mvcc::kMetaConsistentIndex) return Status::ok();
          batch.put_meta(k, v);
        }
        pending += k.size() + v.size();
        if (pending < (4u << 20)) return Status::ok();
        pending = 0;
        Status w = e.write(batch);
        batch.clear();
        return w;
      });
  if (s) {
    const outpostpb::ClusterInfo info =
        initial_cluster_info(opts.initial_cluster, opts.cluster_token, opts.name, {});
    batch.put_meta(ClusterRecord::kMetaKey, info.SerializeAsString());
    s = e.write(batch, /*sync=*/true);
  }
  if (!s) {
    engine.value().reset();
    std::filesystem::remove_all(dir, ec);
  }
  return s;
}

}  // namespace outpost::server
