"""Certificates for TLS tests, made with the openssl command line (Debian's openssl package).

make_pki(dir) writes, under dir, a test PKI and returns a Pki with the file paths:
  ca.crt / ca.key          the CA every good certificate is signed by
  other-ca.crt             an unrelated CA (a client or peer that trusts it fails verification)
  server.crt / server.key  a server certificate, SAN IP:127.0.0.1 and DNS:localhost, for both
                           serverAuth and clientAuth (peers use one certificate both ways, as etcd)
  client-<name>.crt/.key   client certificates with CN=<name> (see Pki.client)
  expired.crt / expired.key  signed by ca, but expired yesterday
  wrong-ca-server.crt/.key signed by other-ca, with the same SANs as server.crt
Pki.crl(names) writes a CRL from ca revoking the client certificates of those names (openssl ca).
Keys are P-256 EC, which every client in the tests accepts. Nothing here needs the network.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

_EXT = """basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
"""


def _run(args: list[str], cwd: str) -> None:
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {r.stderr.strip()}")


def _ca(d: str, name: str) -> None:
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}",
          "-days", "30"], d)


def _leaf(d: str, name: str, cn: str, ca: str, days: int, san: str = "") -> None:
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write(_EXT.replace("IP:127.0.0.1,DNS:localhost", san) if san else _EXT)
    _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}"], d)
    _run(["openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey",
          f"{ca}.key", "-CAcreateserial", "-out", f"{name}.crt", "-days", str(days),
          "-extfile", "leaf.ext"], d)


@dataclass
class Pki:
    dir: str
    ca: str
    other_ca: str
    server_cert: str
    server_key: str
    expired_cert: str
    expired_key: str
    wrong_ca_cert: str
    wrong_ca_key: str

    def client(self, name: str) -> tuple[str, str]:
        """(cert, key) for a client certificate whose CN is name (made on first use)."""
        cert = os.path.join(self.dir, f"client-{name}.crt")
        if not os.path.exists(cert):
            _leaf(self.dir, f"client-{name}", name, "ca", 30)
        return cert, os.path.join(self.dir, f"client-{name}.key")

    def with_san(self, name: str, san: str) -> tuple[str, str]:
        """(cert, key) signed by ca, CN=name, with subjectAltName san (e.g. "IP:10.9.9.9")."""
        cert = os.path.join(self.dir, f"san-{name}.crt")
        if not os.path.exists(cert):
            _leaf(self.dir, f"san-{name}", name, "ca", 30, san)
        return cert, os.path.join(self.dir, f"san-{name}.key")

    def crl(self, revoked: list[str]) -> str:
        """A PEM CRL signed by ca that revokes client(name) for each name; returns its path."""
        db = os.path.join(self.dir, "crl-" + "-".join(revoked))
        os.makedirs(db, exist_ok=True)
        open(os.path.join(db, "index.txt"), "w").close()
        with open(os.path.join(db, "crlnumber"), "w") as f:
            f.write("01\n")
        with open(os.path.join(db, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = d\n[d]\n"
                    f"database = {db}/index.txt\ncrlnumber = {db}/crlnumber\n"
                    "default_md = sha256\ndefault_crl_days = 30\n")
        ca = ["-config", os.path.join(db, "ca.cnf"), "-keyfile", "ca.key", "-cert", "ca.crt"]
        for name in revoked:
            _run(["openssl", "ca", *ca, "-revoke", self.client(name)[0]], self.dir)
        out = os.path.join(db, "crl.pem")
        _run(["openssl", "ca", *ca, "-gencrl", "-out", out], self.dir)
        return out


def make_pki(d: str) -> Pki:
    os.makedirs(d, exist_ok=True)
    _ca(d, "ca")
    _ca(d, "other-ca")
    _leaf(d, "server", "outpost-test-server", "ca", 30)
    _leaf(d, "expired", "outpost-test-expired", "ca", -1)
    _leaf(d, "wrong-ca-server", "outpost-test-server", "other-ca", 30)
    j = lambda n: os.path.join(d, n)  # noqa: E731
    return Pki(dir=d, ca=j("ca.crt"), other_ca=j("other-ca.crt"), server_cert=j("server.crt"),
               server_key=j("server.key"), expired_cert=j("expired.crt"),
               expired_key=j("expired.key"), wrong_ca_cert=j("wrong-ca-server.crt"),
               wrong_ca_key=j("wrong-ca-server.key"))


if __name__ == "__main__":
    import sys
    import tempfile
    p = make_pki(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="pki-"))
    print(p)
    print(p.client("alice"))
