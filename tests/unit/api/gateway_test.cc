// The gateway's framing of request bodies (core/api/gateway.h): a Watch body may hold several
// JSON values; errors are worded as Go's encoding/json words them.
#include "core/api/gateway.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace {

using outpost::api::next_json_value;

std::vector<std::string> values(std::string_view body, std::string* error) {
  std::vector<std::string> out;
  size_t pos = 0;
  std::string_view v;
  while (next_json_value(body, &pos, &v, error) && !v.empty()) out.emplace_back(v);
  return out;
}

}  // namespace

TEST_CASE("next_json_value splits concatenated values", "[api][gateway]") {
  std::string err;
  CHECK(values(R"( {"a":{"b":"}{"}} [1,{"x":[]}]  "s\"}" 12 true)", &err) ==
        std::vector<std::string>{R"({"a":{"b":"}{"}})", R"([1,{"x":[]}])", R"("s\"}")", "12",
                                 "true"});
  CHECK(err.empty());
  CHECK(values("", &err).empty());
  CHECK(values(" \n\t", &err).empty());
  CHECK(err.empty());
}

TEST_CASE("next_json_value words errors as Go's decoder", "[api][gateway]") {
  std::string err;
  CHECK(values(R"({"key":)", &err).empty());
  CHECK(err == "unexpected EOF");
  err.clear();
  CHECK(values(R"({"a":"unterminated)", &err).empty());
  CHECK(err == "unexpected EOF");
  err.clear();
  CHECK(values("xyz", &err).empty());
  CHECK(err == "invalid character 'x' looking for beginning of value");
  err.clear();
  CHECK(values(R"({"a":1} }")", &err) == std::vector<std::string>{R"({"a":1})"});
  CHECK(err == "invalid character '}' looking for beginning of value");
}
