#pragma once
// Certificate revocation lists for etcd's --client-crl-file (and later --peer-crl-file).
//
// etcd takes one PEM file of CRLs; OpenSSL's verifier (and gRPC's TLS credentials, which take a
// directory) looks CRLs up by the hash of their issuer's name: <hash>.r0, <hash>.r1, ... in a
// directory. make_crl_directory() writes every CRL of the file there under those names, after
// clearing the directory, so a restart with a new file never keeps an old list.
//
// With a CRL directory OpenSSL checks the leaf certificate against its issuer's CRL and refuses a
// certificate whose issuer has no CRL in the directory, so the file must hold a CRL from every CA
// that signs client certificates (etcd only refuses listed serial numbers).
//
// OpenSSL stays inside core/transport (DESIGN.md); callers only see paths.
#include <string>

#include "core/common/status.h"

namespace outpost::transport {

// Reads the PEM CRLs in crl_file (at least one) and writes them into dir (created if missing).
Status make_crl_directory(const std::string& crl_file, const std::string& dir);

}  // namespace outpost::transport
