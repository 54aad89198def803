#include "mirror/config.h"

#include <catch2/catch.hpp>

using namespace outpost::mirror;

namespace {

std::string parse(std::vector<std::string> args, MirrorConfig* c) {
  bool help = false;
  std::string err = parse_command_line(args, c, &help);
  if (err.empty()) err = validate(c);
  return err;
}

}  // namespace

TEST_CASE("a make-mirror command line works with the binary name changed") {
  MirrorConfig c;
  REQUIRE(parse({"--endpoints=a:1,b:2", "make-mirror", "--prefix=/app/", "--dest-prefix", "/copy/",
                 "--max-txn-ops=64", "--rev=7", "http://d1:3,http://d2:4"},
                &c) == "");
  CHECK(c.source.endpoints == std::vector<std::string>{"a:1", "b:2"});
  CHECK(c.destination.endpoints == std::vector<std::string>{"http://d1:3", "http://d2:4"});
  CHECK(c.prefix == "/app/");
  CHECK(c.dest_prefix == "/copy/");
  CHECK(c.dest_prefix_set);
  CHECK(c.max_txn_ops == 64);
  CHECK(c.rev == 7);
}

TEST_CASE("defaults: max_txn_ops 128, leases drop, checkpoint key NUL + outpost-mirror/<name>") {
  MirrorConfig c;
  REQUIRE(parse({"d:1"}, &c) == "");
  CHECK(c.max_txn_ops == 128);
  CHECK(c.leases == LeaseMode::kDrop);
  CHECK(c.checkpoint_key == std::string("\0outpost-mirror/default", 23));
  CHECK(c.source.endpoints == std::vector<std::string>{"127.0.0.1:2379"});
  CHECK(c.watch_idle_s == 30);
}

TEST_CASE("TOML tables and keys are read; flags override them") {
  MirrorConfig c;
  REQUIRE(load_toml_text(R"(
name = "eu"
prefix = "/p/"
no_dest_prefix = true
leases = "mirror"
once = true
compact_dest = true
metrics_listen = "127.0.0.1:9100"
[source]
endpoints = ["s1:1", "s2:2"]
[destination]
endpoints = ["d1:1"]
)",
                         "m.toml", &c) == "");
  CHECK(c.source.endpoints.size() == 2);
  CHECK(c.destination.endpoints == std::vector<std::string>{"d1:1"});
  CHECK(c.no_dest_prefix);
  CHECK(c.leases == LeaseMode::kMirror);
  CHECK(c.once);
  CHECK(c.compact_dest);
  REQUIRE(validate(&c) == "");
  CHECK(c.checkpoint_key == std::string("\0outpost-mirror/eu", 18));
}

TEST_CASE("a bad TOML value names the file, position and key") {
  MirrorConfig c;
  CHECK(load_toml_text("prefix = \"/a\"\n\nleases = \"keep\"\n", "mirror.toml", &c) ==
        "mirror.toml:3:1: leases: must be \"drop\" or \"mirror\"");
  MirrorConfig d;
  CHECK(load_toml_text("max_txn_ops = \"many\"\n", "m.toml", &d) ==
        "m.toml:1:1: max_txn_ops: expected an integer, got a string");
  MirrorConfig e;
  const std::string err = load_toml_text("[source]\nendpoint = [\"a\"]\n", "m.toml", &e);
  CHECK(err.rfind("m.toml:2:1: unknown key \"source.endpoint\"", 0) == 0);
}

TEST_CASE("a bad flag names the flag") {
  MirrorConfig c;
  CHECK(parse({"--max-txn-ops=x", "d:1"}, &c) ==
        "--max-txn-ops: invalid value \"x\": expected an integer");
  MirrorConfig d;
  CHECK(parse({"--bogus", "d:1"}, &d) == "unknown flag --bogus (see --help)");
  MirrorConfig e;
  CHECK(parse({"--prefix=/a"}, &e).rfind("no destination", 0) == 0);
  MirrorConfig f;
  CHECK(parse({"--dest-prefix=/x", "--no-dest-prefix", "d:1"}, &f).find("cannot both be set") !=
        std::string::npos);
}

TEST_CASE("TLS and authentication settings are checked and completed") {
  MirrorConfig c;
  std::string err = parse({"--dest-cacert=/no/such/ca.pem", "d:1"}, &c);
  CHECK(err == "destination.cacert: cannot read \"/no/such/ca.pem\"");

  MirrorConfig d;
  REQUIRE(load_toml_text("[source]\nuser = \"root\"\n", "m.toml", &d) == "");
  d.destination.endpoints = {"d:1"};
  CHECK(validate(&d) == "source.user: no password given");

  MirrorConfig e;
  CHECK(parse({"--user=root:pw", "--dest-cert=/etc/hostname", "d:1"}, &e) ==
        "destination.cert: cert and key must be given together");

  MirrorConfig f;
  REQUIRE(parse({"--user=root:s3:cret", "--endpoints=https://a:1",
                 "--dest-insecure-transport=false", "d:1"},
                &f) == "");
  CHECK(f.source.user == "root");
  CHECK(f.source.password == "s3:cret");
  CHECK(f.source.tls);
  CHECK(f.destination.tls);

  MirrorConfig g;
  REQUIRE(parse({"d:1"}, &g) == "");
  CHECK_FALSE(g.source.tls);
  CHECK_FALSE(g.destination.tls);
  CHECK(g.coalesce);
  MirrorConfig h;
  REQUIRE(parse({"--coalesce=false", "d:1"}, &h) == "");
  CHECK_FALSE(h.coalesce);
}
