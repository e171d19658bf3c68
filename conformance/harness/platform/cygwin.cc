// Cygwin and MSYS2: SO_PEERCRED with struct ucred, as on Linux (Cygwin's AF_UNIX exchanges the
// credentials in its own handshake); getpeereid() where SO_PEERCRED fails, which gives no pid.
// Not compiled on the development machine: kept to documented calls only.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "../platform.h"

namespace afunix {
namespace platform {

PeerCredentials peer_credentials(int fd) {
  PeerCredentials c;
#if AFUNIX_HAVE_SO_PEERCRED
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    c.has_pid = true;
    c.pid = cred.pid;
    c.uid = cred.uid;
    c.gid = cred.gid;
    return c;
  }
#endif
#if AFUNIX_HAVE_GETPEEREID
  if (::getpeereid(fd, &c.uid, &c.gid) == 0) return c;
#endif
  c.err = errno ? errno : ENOPROTOOPT;
  return c;
}

// No process tree to read here (Linux's /proc/<pid>/task/<tid>/children).
bool others_running(pid_t) { return false; }

}  // namespace platform
}  // namespace afunix
