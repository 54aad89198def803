// outpost-raw-grpc: send arbitrary bytes as the request message of one unary gRPC call.
//
// The integration tests use it to hand a server request bodies that no well-behaved client
// would send (truncated varints, wrong wire types, random garbage) and to check that the server
// answers with a gRPC error status instead of crashing, then keeps serving. It knows nothing about
// etcd's protos: the method name and the payload are given on the command line.
//
// Usage:  outpost-raw-grpc ADDR METHOD HEXBYTES [TIMEOUT_MS]
//   ADDR      host:port, e.g. 127.0.0.1:2379 (plaintext)
//   METHOD    full method path, e.g. /etcdserverpb.KV/Range
//   HEXBYTES  request payload as hex ("" for an empty message; "-" reads the hex from stdin,
//             for payloads larger than one command-line argument may be)
// Output (stdout, two lines):
//   code=N message=<status message>
//   response=<response bytes as hex>
// Exit status: 0 when the call completed (any gRPC status), 2 on a usage error.
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

std::optional<std::string> hex_decode(const std::string& hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string hex_encode(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xf]);
  }
  return out;
}

std::string flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::cerr << "usage: outpost-raw-grpc ADDR METHOD HEXBYTES [TIMEOUT_MS]\n"
                 "  e.g. outpost-raw-grpc 127.0.0.1:2379 /etcdserverpb.KV/Range 0a0178\n";
    return 2;
  }
  const std::string addr = argv[1];
  const std::string method = argv[2];
  std::string hex = argv[3];
  if (hex == "-") {
    hex.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.pop_back();
  }
  auto payload = hex_decode(hex);
  if (!payload) {
    std::cerr << "outpost-raw-grpc: HEXBYTES is not valid hex (" << hex.size() << " chars)\n";
    return 2;
  }
  long timeout_ms = 5000;
  if (argc == 5) {
    try {
      timeout_ms = std::stol(argv[4]);
    } catch (const std::exception&) {
      std::cerr << "outpost-raw-grpc: TIMEOUT_MS is not a number: " << argv[4] << "\n";
      return 2;
    }
  }

  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));

  grpc::Slice slice(payload->data(), payload->size());
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;

  std::mutex mu;
  std::condition_variable cv;
  std::optional<grpc::Status> result;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) {
                   std::lock_guard<std::mutex> lock(mu);
                   result = std::move(status);
                   cv.notify_one();
                 });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });

  std::cout << "code=" << static_cast<int>(result->error_code())
            << " message=" << result->error_message() << "\n";
  std::cout << "response=" << (result->ok() ? hex_encode(flatten(response)) : "") << "\n";
  return 0;
}
