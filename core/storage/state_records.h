#pragma once
// The byte form of whole-state records (Engine::scan_state: column family, key, value), shared by
// everything that carries a member's state outside RocksDB: the Raft snapshot stream to a lagging
// member (core/server/snapshot_stream) and the snapshot file a client saves
// (core/server/snapshot_file).
//
// One record:  cf (1) | key length (4, big-endian) | key | value length (4, big-endian) | value.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::storage {

inline void append_state_record(std::string& out, int cf, std::string_view k, std::string_view v) {
  auto u32 = [&](size_t n) {
    for (int i = 3; i >= 0; --i) out.push_back(char((n >> (8 * i)) & 0xff));
  };
  out.push_back(char(cf));
  u32(k.size());
  out.append(k);
  u32(v.size());
  out.append(v);
}

// Takes the first record off `in`. False when `in` does not start with a whole record; `in` is
// then left as it was.
inline bool next_state_record(std::string_view& in, int* cf, std::string_view* k,
                              std::string_view* v) {
  std::string_view rest = in;
  auto u32 = [&](size_t* n) {
    if (rest.size() < 4) return false;
    *n = (size_t(uint8_t(rest[0])) << 24) | (size_t(uint8_t(rest[1])) << 16) |
         (size_t(uint8_t(rest[2])) << 8) | uint8_t(rest[3]);
    rest.remove_prefix(4);
    return true;
  };
  if (rest.empty()) return false;
  const int c = uint8_t(rest[0]);
  rest.remove_prefix(1);
  size_t n = 0;
  if (!u32(&n) || rest.size() < n) return false;
  const std::string_view key = rest.substr(0, n);
  rest.remove_prefix(n);
  if (!u32(&n) || rest.size() < n) return false;
  *v = rest.substr(0, n);
  rest.remove_prefix(n);
  *cf = c;
  *k = key;
  in = rest;
  return true;
}

// Takes every record off a chunk that holds whole records only (a snapshot stream's data frame),
// in order, calling fn(cf, key, value); fn returning false stops. False when the chunk does not
// split into whole records or fn stopped.
template <class Fn>
bool for_each_state_record(std::string_view chunk, Fn&& fn) {
  int cf = 0;
  std::string_view k, v;
  while (!chunk.empty())
    if (!next_state_record(chunk, &cf, &k, &v) || !fn(cf, k, v)) return false;
  return true;
}

}  // namespace outpost::storage
