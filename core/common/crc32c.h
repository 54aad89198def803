#pragma once
// CRC-32C (Castagnoli), incremental; what etcd's HashKV uses.
#include <cstdint>
#include <string_view>

namespace outpost {

class Crc32c {
 public:
  void update(std::string_view data);
  uint32_t value() const { return ~crc_; }

 private:
  uint32_t crc_ = 0xffffffffu;
};

}  // namespace outpost
