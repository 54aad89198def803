#include "core/transport/self_signed.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using outpost::transport::make_self_signed;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/outpost-selfsigned-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What `openssl x509 -text` says about the certificate (the CLI is in the test dependencies).
std::string x509_text(const std::string& cert) {
  std::string out = cert + ".txt";
  std::string cmd = "openssl x509 -noout -text -in " + cert + " > " + out + " 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  return slurp(out);
}

}  // namespace

TEST_CASE("make_self_signed writes a key and a certificate for the hosts", "[self_signed]") {
  std::string dir = temp_dir() + "/fixtures/client";
  auto files = make_self_signed(dir, {"127.0.0.1", "localhost", "::1"});
  REQUIRE(files.is_ok());
  CHECK(files->cert_file == dir + "/cert.pem");
  CHECK(files->key_file == dir + "/key.pem");
  std::string text = x509_text(files->cert_file);
  CHECK(text.find("IP Address:127.0.0.1") != std::string::npos);
  CHECK(text.find("DNS:localhost") != std::string::npos);
  CHECK(text.find("IP Address:0:0:0:0:0:0:0:1") != std::string::npos);
  CHECK(text.find("TLS Web Server Authentication, TLS Web Client Authentication") !=
        std::string::npos);
  CHECK(text.find("prime256v1") != std::string::npos);
  struct stat st {};
  REQUIRE(stat(files->key_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::filesystem::remove_all(dir + "/../..");
}

TEST_CASE("make_self_signed reuses a valid pair and replaces a broken one", "[self_signed]") {
  std::string dir = temp_dir();
  auto first = make_self_signed(dir, {"127.0.0.1"});
  REQUIRE(first.is_ok());
  std::string cert = slurp(first->cert_file);
  auto again = make_self_signed(dir, {"127.0.0.1"});
  REQUIRE(again.is_ok());
  CHECK(slurp(again->cert_file) == cert);

  std::ofstream(first->key_file) << "not a key\n";
  auto fresh = make_self_signed(dir, {"127.0.0.1"});
  REQUIRE(fresh.is_ok());
  CHECK(slurp(fresh->cert_file) != cert);
  std::filesystem::remove_all(dir);
}

TEST_CASE("make_self_signed names the directory it cannot create", "[self_signed]") {
  auto r = make_self_signed("/proc/outpost-no/such", {"127.0.0.1"});
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find("/proc/outpost-no/such") != std::string::npos);
}
