// Addr: socket addresses built the way a program builds them, labelled the way traces name them.
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "context.h"
#include "names.h"
#include "platform.h"
#include "scenario.h"

namespace afunix {

Addr Addr::path(const std::string& path) {
  Addr a;
  a.storage_.un.sun_family = AF_UNIX;
  std::memcpy(a.storage_.un.sun_path, path.data(),
              std::min(path.size(), sizeof a.storage_.un.sun_path));
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  if (a.len_ > sizeof(sockaddr_un)) a.len_ = sizeof(sockaddr_un);
  a.label_ = escape_bytes(path);
  return a;
}

Addr Addr::absolute(const std::string& path) {
  Addr a = Addr::path(context::scenario_dir() + "/" + path);
  a.label_ = "<scenario-dir>/" + escape_bytes(path);
  return a;
}

Addr Addr::over(const Addr& stale) const {
  Addr a = *this;
  a.storage_ = stale.storage_;
  a.storage_.un.sun_family = storage_.un.sun_family;
  const size_t path = offsetof(sockaddr_un, sun_path);
  // A pathname's bytes without its NUL; an abstract name has none to leave out.
  size_t n = len_ > path ? len_ - path : 0;
  if (n > 0 && storage_.un.sun_path[0] != '\0' && storage_.un.sun_path[n - 1] == '\0') --n;
  std::memcpy(a.storage_.un.sun_path, storage_.un.sun_path, n);
  a.len_ = static_cast<socklen_t>(path + n);
  a.stale_ = stale.label_;
  return a;
}

Addr Addr::abstract(const std::string& name) {
  platform::require(platform::Feature::AbstractNames);
  Addr a;
  a.storage_.un.sun_family = AF_UNIX;
  std::string bytes = std::string(1, '\0') + context::run_tag() + name;
  size_t n = std::min(bytes.size(), sizeof a.storage_.un.sun_path);
  std::memcpy(a.storage_.un.sun_path, bytes.data(), n);
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  a.label_ = "@" + escape_bytes(name);
  return a;
}

Addr Addr::autobind() {
  platform::require(platform::Feature::Autobind);
  Addr a;
  a.storage_.un.sun_family = AF_UNIX;
  a.len_ = sizeof(sa_family_t);
  a.label_ = "<autobind>";
  return a;
}

Addr Addr::from_kernel(const sockaddr* sa, socklen_t len) {
  Addr a;
  std::memcpy(&a.storage_, sa, std::min<size_t>(len, sizeof a.storage_));
  a.len_ = len;
  a.label_ = context::address_name(sa, len);
  return a;
}

Addr Addr::named(Naming naming, const std::string& name) {
  switch (naming) {
    case Naming::Pathname: return path(name + ".sock");
    case Naming::Abstract: return abstract(name);
    default: return autobind();
  }
}

Addr Addr::abstract_of_size(size_t bytes) {
  platform::require(platform::Feature::AbstractNames);
  const std::string& tag = context::run_tag();
  const size_t fits = sizeof(sockaddr_un::sun_path);
  if (bytes <= fits) return abstract(std::string(bytes - 1 - tag.size(), 'n'));
  std::string raw_bytes = std::string(1, '\0') + tag + std::string(bytes - 1 - tag.size(), 'n');
  return raw(raw_bytes, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + bytes),
             "@<" + std::to_string(bytes - 1) + "-byte name>");
}

Addr Addr::with_family(int family) const {
  Addr a = *this;
  a.storage_.un.sun_family = static_cast<sa_family_t>(family);
  a.label_ = label_.empty() ? family_name(family) : label_ + " (" + family_name(family) + ")";
  return a;
}

Addr Addr::raw(const std::string& sun_path_bytes, socklen_t addrlen, const std::string& label) {
  // A name that starts with NUL within the length is abstract.
  if (!sun_path_bytes.empty() && sun_path_bytes[0] == '\0' && addrlen > offsetof(sockaddr_un, sun_path))
    platform::require(platform::Feature::AbstractNames);
  Addr a;
  a.storage_.un.sun_family = AF_UNIX;
  std::memcpy(a.storage_.un.sun_path, sun_path_bytes.data(),
              std::min(sun_path_bytes.size(), sizeof a.storage_.un.sun_path + sizeof a.storage_.slack));
  a.len_ = addrlen;
  a.label_ = label;
  return a;
}

}  // namespace afunix
