// parse_url: the http(s)://host:port shape etcd requires of its endpoints.
#include "config/url.h"

#include <catch2/catch.hpp>

using outpost::config::is_bindable_host;
using outpost::config::parse_url;
using outpost::config::Url;

TEST_CASE("parse_url accepts http and https host:port URLs", "[url]") {
  std::string error;
  auto u = parse_url("http://127.0.0.1:2379", &error);
  REQUIRE(u);
  CHECK(u->scheme == "http");
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == 2379);
  CHECK(u->str() == "http://127.0.0.1:2379");

  u = parse_url("  HTTPS://infra1.example.com:12380 ", &error);
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->host == "infra1.example.com");
  CHECK(u->str() == "https://infra1.example.com:12380");
}

TEST_CASE("parse_url keeps IPv6 hosts without brackets and prints them with", "[url]") {
  auto u = parse_url("http://[::1]:2380", nullptr);
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->port == 2380);
  CHECK(u->str() == "http://[::1]:2380");
}

TEST_CASE("parse_url rejects what etcd rejects, with etcd's wording", "[url]") {
  struct Case {
    const char* in;
    const char* error;
  };
  const Case cases[] = {
      {"foo://127.0.0.1:2379", "URL scheme must be http or https: foo://127.0.0.1:2379"},
      {"127.0.0.1:2379", "URL scheme must be http or https: 127.0.0.1:2379"},
      {"unix://sock:1", "URL scheme must be http or https: unix://sock:1"},
      {"http://127.0.0.1", "URL address does not have the form \"host:port\": http://127.0.0.1"},
      {"http://::1:2379", "URL address does not have the form \"host:port\": http://::1:2379"},
      {"http://[::1]", "URL address does not have the form \"host:port\": http://[::1]"},
      {"http://[host]:1", "URL address does not have the form \"host:port\": http://[host]:1"},
      {"http://127.0.0.1:2379/", "URL must not contain a path: http://127.0.0.1:2379/"},
      {"http://127.0.0.1:2379/x", "URL must not contain a path: http://127.0.0.1:2379/x"},
      {"http://u:p@127.0.0.1:2379",
       "URL must not contain user information: http://u:p@127.0.0.1:2379"},
      {"http://:2379", "URL has an empty host: http://:2379"},
      {"http://h:99999", "URL port must be a number from 0 to 65535: http://h:99999"},
      {"http://h:12ab", "URL port must be a number from 0 to 65535: http://h:12ab"},
      {"http://h:", "URL port must be a number from 0 to 65535: http://h:"},
      {"", "URL scheme must be http or https: "},
  };
  for (const auto& c : cases) {
    std::string error;
    INFO(c.in);
    CHECK_FALSE(parse_url(c.in, &error));
    CHECK(error == c.error);
  }
}

TEST_CASE("parse_url with a null error pointer just returns nullopt", "[url]") {
  CHECK_FALSE(parse_url("nope", nullptr));
}

TEST_CASE("Url equality compares all parts", "[url]") {
  CHECK(Url{"http", "a", 1} == Url{"http", "a", 1});
  CHECK_FALSE(Url{"http", "a", 1} == Url{"https", "a", 1});
  CHECK_FALSE(Url{"http", "a", 1} == Url{"http", "a", 2});
}

TEST_CASE("only IP literals and localhost are bindable", "[url]") {
  CHECK(is_bindable_host("127.0.0.1"));
  CHECK(is_bindable_host("0.0.0.0"));
  CHECK(is_bindable_host("::"));
  CHECK(is_bindable_host("localhost"));
  CHECK_FALSE(is_bindable_host("myhost"));
  CHECK_FALSE(is_bindable_host("256.1.1.1"));
}
