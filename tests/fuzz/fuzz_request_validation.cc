// libFuzzer target: the checks the gRPC API makes on a request before anything is proposed or
// read (core/api/validate.h), on requests decoded from the wire as the gRPC server decodes
// them. The first input byte picks the request type, the rest is its protobuf encoding.
#include <cstddef>
#include <cstdint>

#include "core/api/validate.h"
#include "etcdserverpb/rpc.pb.h"

namespace {

template <class Request>
bool parse(Request* r, const uint8_t* data, size_t size) {
  return r->ParseFromArray(data, int(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace pb = etcdserverpb;
  using namespace outpost::api;
  if (size == 0) return 0;
  const uint8_t pick = data[0];
  ++data;
  --size;
  switch (pick % 4) {
    case 0: {
      pb::RangeRequest r;
      if (parse(&r, data, size)) (void)check_range(r);
      break;
    }
    case 1: {
      pb::PutRequest r;
      if (parse(&r, data, size)) (void)check_put(r);
      break;
    }
    case 2: {
      pb::DeleteRangeRequest r;
      if (parse(&r, data, size)) (void)check_delete(r);
      break;
    }
    case 3: {
      pb::TxnRequest r;
      if (!parse(&r, data, size)) break;
      // The limit comes from --max-txn-ops (etcd's default 128); the high bits vary it.
      const int64_t max_ops = (pick >> 2) == 0 ? 128 : int64_t(pick >> 2);
      if (check_txn(r, max_ops)) (void)check_txn_keys(r);
      break;
    }
  }
  return 0;
}
