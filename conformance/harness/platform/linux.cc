// Linux: peer credentials from SO_PEERCRED (struct ucred). The kernel is the oracle; the other
// files of this directory say how each platform's documented API maps onto the same observation.
#include <sys/socket.h>

#include <cerrno>

#include "../platform.h"

namespace afunix {
namespace platform {

PeerCredentials peer_credentials(int fd) {
  PeerCredentials c;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    c.err = errno;
    return c;
  }
  c.has_pid = true;
  c.pid = cred.pid;
  c.uid = cred.uid;
  c.gid = cred.gid;
  return c;
}

}  // namespace platform
}  // namespace afunix
