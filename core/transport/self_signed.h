#pragma once
// A self-signed certificate for etcd's --auto-tls and --peer-auto-tls: a P-256 ECDSA key and an
// X.509 certificate valid for `hosts` (IP literals become IP SANs, anything else DNS SANs), written
// as PEM files cert.pem and key.pem (mode 0600) under dir, as etcd writes them under
// <data-dir>/fixtures/{client,peer}. A pair already there that parses and is still valid is reused,
// so a restart keeps its certificate.
//
// OpenSSL stays inside core/transport (DESIGN.md); callers only see file paths.

#include <string>
#include <vector>

#include "core/common/status.h"

namespace outpost::transport {

struct CertFiles {
  std::string cert_file;
  std::string key_file;
};

Result<CertFiles> make_self_signed(const std::string& dir, const std::vector<std::string>& hosts,
                                   int valid_days = 365);

}  // namespace outpost::transport
