// macOS: LOCAL_PEERCRED (struct xucred, level SOL_LOCAL) for uid and groups, LOCAL_PEERPID for
// the pid, as documented in unix(4). xucred's first group is the effective gid.
// Not compiled on the development machine: kept to documented calls only.
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/ucred.h>
#include <sys/un.h>

#include <cerrno>

#include "../platform.h"

namespace afunix {
namespace platform {

PeerCredentials peer_credentials(int fd) {
  PeerCredentials c;
  xucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &cred, &len) != 0) {
    c.err = errno;
    return c;
  }
  if (cred.cr_version != XUCRED_VERSION) {
    c.err = EINVAL;
    return c;
  }
  c.uid = cred.cr_uid;
  c.gid = cred.cr_ngroups > 0 ? cred.cr_groups[0] : static_cast<gid_t>(-1);
#if AFUNIX_HAVE_LOCAL_PEERPID
  pid_t pid = 0;
  socklen_t pid_len = sizeof pid;
  if (::getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &pid_len) == 0) {
    c.has_pid = true;
    c.pid = pid;
  }
#endif
  return c;
}

// No process tree to read here (Linux's /proc/<pid>/task/<tid>/children).
bool others_running(pid_t) { return false; }

}  // namespace platform
}  // namespace afunix
