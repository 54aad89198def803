#pragma once
// Revision {main, sub}: main is the store revision of a write transaction, sub orders the
// changes inside it. On disk a revision is a 17-byte key: 8-byte big-endian main, '_',
// 8-byte big-endian sub, and one more byte 't' when the record is a tombstone (etcd's layout),
// so the kv column family iterates in revision order.

#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::mvcc {

struct Revision {
  int64_t main = 0;
  int64_t sub = 0;

  friend auto operator<=>(const Revision&, const Revision&) = default;
};

inline constexpr size_t kRevisionKeyLen = 17;

inline std::string revision_key(Revision r, bool tombstone = false) {
  std::string out(kRevisionKeyLen + (tombstone ? 1 : 0), '\0');
  for (int i = 0; i < 8; ++i) {
    out[size_t(7 - i)] = char(uint64_t(r.main) >> (8 * i) & 0xff);
    out[size_t(16 - i)] = char(uint64_t(r.sub) >> (8 * i) & 0xff);
  }
  out[8] = '_';
  if (tombstone) out[17] = 't';
  return out;
}

inline Revision parse_revision_key(std::string_view k) {
  Revision r;
  for (size_t i = 0; i < 8 && k.size() >= kRevisionKeyLen; ++i) {
    r.main = int64_t(uint64_t(r.main) << 8 | uint8_t(k[i]));
    r.sub = int64_t(uint64_t(r.sub) << 8 | uint8_t(k[9 + i]));
  }
  return r;
}

inline bool is_tombstone_key(std::string_view k) {
  return k.size() == kRevisionKeyLen + 1 && k.back() == 't';
}

}  // namespace outpost::mvcc
