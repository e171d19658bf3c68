// Any other POSIX system, and the POSIX-only profile: getpeereid() where the C library has it
// (no pid), otherwise no way to learn the peer (platform::has(PeerCredentials) is false, so the
// scenarios that ask are UNSUPPORTED before this is called).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "../platform.h"

namespace afunix {
namespace platform {

PeerCredentials peer_credentials(int fd) {
  PeerCredentials c;
#if AFUNIX_HAVE_GETPEEREID
  if (::getpeereid(fd, &c.uid, &c.gid) != 0) c.err = errno;
#else
  (void)fd;
  c.err = ENOPROTOOPT;
#endif
  return c;
}

// No process tree to read here (Linux's /proc/<pid>/task/<tid>/children).
bool others_running(pid_t) { return false; }

}  // namespace platform
}  // namespace afunix
