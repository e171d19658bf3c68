// FreeBSD: LOCAL_PEERCRED (struct xucred, level 0 = SOL_LOCAL) for uid and groups; FreeBSD 13 and
// later fill cr_pid too (unix(4)). Ancillary credentials are SCM_CREDS with struct cmsgcred, filled
// by the kernel rather than stated by the sender: scenarios that send SCM_CREDENTIALS are
// UNSUPPORTED here (no SCM_CREDENTIALS), so that a forged claim is never compared with a kernel
// that ignores claims. Not compiled on the development machine: kept to documented calls only.
#include <sys/param.h>
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
  if (::getsockopt(fd, 0, LOCAL_PEERCRED, &cred, &len) != 0) {
    c.err = errno;
    return c;
  }
  if (cred.cr_version != XUCRED_VERSION) {
    c.err = EINVAL;
    return c;
  }
  c.uid = cred.cr_uid;
  c.gid = cred.cr_ngroups > 0 ? cred.cr_groups[0] : static_cast<gid_t>(-1);
#if __FreeBSD_version >= 1300000
  c.has_pid = cred.cr_pid != 0;
  c.pid = cred.cr_pid;
#endif
  return c;
}

// No process tree to read here (Linux's /proc/<pid>/task/<tid>/children).
bool others_running(pid_t) { return false; }

}  // namespace platform
}  // namespace afunix
