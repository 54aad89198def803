// URL parsing: the small subset of RFC 3986 etcd accepts for its endpoints.
#include "config/url.h"

#include <arpa/inet.h>

#include <cctype>

namespace outpost::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool fail(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
  return false;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string Url::str() const {
  std::string out = scheme + "://";
  if (host.find(':') != std::string::npos) {
    out += "[" + host + "]";
  } else {
    out += host;
  }
  out += ":" + std::to_string(port);
  return out;
}

bool is_bindable_host(std::string_view host) {
  if (host == "localhost") return true;
  std::string h(host);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::optional<Url> parse_url(std::string_view input, std::string* error) {
  const std::string_view s = trim(input);
  const std::string quoted(s);
  const auto sep = s.find("://");
  if (sep == std::string_view::npos) {
    fail(error, "URL scheme must be http or https: " + quoted);
    return std::nullopt;
  }
  Url url;
  url.scheme = lower(s.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    fail(error, "URL scheme must be http or https: " + quoted);
    return std::nullopt;
  }
  std::string_view rest = s.substr(sep + 3);
  const auto end = rest.find_first_of("/?#");
  if (end != std::string_view::npos) {
    fail(error, "URL must not contain a path: " + quoted);
    return std::nullopt;
  }
  if (rest.find('@') != std::string_view::npos) {
    fail(error, "URL must not contain user information: " + quoted);
    return std::nullopt;
  }
  const std::string not_host_port = "URL address does not have the form \"host:port\": " + quoted;
  std::string_view host, port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      fail(error, not_host_port);
      return std::nullopt;
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
    if (host.find(':') == std::string_view::npos) {  // brackets are for IPv6 only
      fail(error, not_host_port);
      return std::nullopt;
    }
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || rest.find(':') != colon) {
      fail(error, not_host_port);
      return std::nullopt;
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) {
    fail(error, "URL has an empty host: " + quoted);
    return std::nullopt;
  }
  bool digits = !port.empty() && port.size() <= 5;
  for (char c : port) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  unsigned long value = digits ? std::stoul(std::string(port)) : 0;
  if (!digits || value > 65535) {
    fail(error, "URL port must be a number from 0 to 65535: " + quoted);
    return std::nullopt;
  }
  url.host = std::string(host);
  url.port = static_cast<uint16_t>(value);
  return url;
}

}  // namespace outpost::config
