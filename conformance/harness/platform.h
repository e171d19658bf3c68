// What this platform offers the scenario program, and the few calls whose API differs between
// platforms. The build asks the compiler what exists (cmake/features.cmake, afunix_features.h); a
// few features are probed once at run time (abstract names, autobind, SOCK_SEQPACKET). An operation
// that needs a missing feature calls require(): the scenario then ends UNSUPPORTED naming the
// feature ("needs epoll, which this platform does not offer"), never as a crash, a build failure or
// a FAIL. Observations keep one vocabulary on every platform: peer credentials are roles, whatever
// API delivered them (platform/peer_*.cc, one file per platform).
#pragma once

#include <sys/types.h>

#include <string>

#include "afunix_features.h"
#include "platform_compat.h"

namespace afunix {
namespace platform {

enum class Feature {
  Epoll,            // epoll_create1, epoll_ctl, epoll_wait
  PeerCredentials,  // who the peer is, by any API: SO_PEERCRED, LOCAL_PEERCRED, getpeereid
  SoPeercred,       // the SO_PEERCRED option itself (struct ucred), for its buffer-length cases
  ScmCredentials,   // SO_PASSCRED and SCM_CREDENTIALS control messages (struct ucred)
  SeqPacket,        // SOCK_SEQPACKET for AF_UNIX
  MsgCmsgCloexec,   // recvmsg(MSG_CMSG_CLOEXEC)
  PeekOffset,       // SO_PEEK_OFF
  Pidfd,            // SO_PEERPIDFD, SO_PASSPIDFD, SCM_PIDFD
  Sendmmsg,         // sendmmsg, recvmmsg
  AbstractNames,    // names in the abstract namespace (sun_path[0] == '\0')
  Autobind,         // bind() with addrlen == sizeof(sa_family_t) picks a name
  SockFlags,        // SOCK_CLOEXEC and SOCK_NONBLOCK in the socket type
  ProcFs,           // /proc/self/fd, /proc/self/fdinfo, /proc/net/unix
  LinuxOptions,     // socket options and flags only Linux has (SO_PEERGROUPS, MSG_ERRQUEUE, ...)
};

// What traces and reasons call the feature: "epoll", "SO_PEERCRED", "abstract names".
const char* name(Feature f);
// Compiled in and, for the probed ones, working on this system.
bool has(Feature f);
// Runs the run-time probes now, in the scenario runner: an actor must not make the probes' own
// sockets mid-story (a backend's wrapper would see them; a forked helper would inherit the actor's).
void probe();
// Ends the scenario UNSUPPORTED when f is missing (see the top of this file); returns when f is
// there. In a scenario's process it exits that process; before the actors start it marks the
// scenario, which Scenario::run then reports without forking anyone.
void require(Feature f);
// A constant this platform's headers do not define (platform_compat.h gives it a value no system
// uses, so the sources still compile): the same as require() of a feature of that name.
bool is_missing_constant(long value);
void require_constant(long value, const char* constant_name);
// Flags of send/recv/sendmsg/recvmsg: MSG_CMSG_CLOEXEC, and in the POSIX-only profile Linux's own.
void require_msg_flags(int flags);

// "Linux 6.18.0 x86_64", "CYGWIN_NT-10.0 3.5.4 x86_64", "Darwin 23.1.0 arm64"; plus ", POSIX-only
// profile" when the build forced every extension off.
std::string system_description();
// "full" or "posix-only": which build profile recorded a trace.
const char* profile();

// Calls whose spelling differs between platforms.
int cloexec_pipe(int fds[2]);
int accept_nonblocking(int listener, bool nonblocking);  // accept4() where it exists

struct PeerCredentials {
  int err = 0;  // 0, or the errno of the failing call
  bool has_pid = false;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
// The peer of a connected AF_UNIX socket, by this platform's documented API (platform/peer_*.cc).
PeerCredentials peer_credentials(int fd);

// Whether a process of the tree under root (root included), other than the caller, is running,
// waiting for a CPU, in an uninterruptible wait or stopped by a tracer (proot, strace): something
// that may still unblock the caller. The watchdog asks it from its signal handler, so it only makes
// async-signal-safe calls. false where the system cannot tell (no /proc): the watchdog then fires
// on time, as it did before it asked.
bool others_running(pid_t root);

// Waiting for a scenario's processes to end with a deadline: sigtimedwait() on SIGCHLD where it
// exists, a SIGCHLD self-pipe elsewhere. begin() in the scenario runner before forking, in_child()
// in every forked actor, end() after the last one was reaped.
class ChildWaiter {
 public:
  void begin();
  void in_child();
  void wait(long milliseconds);  // returns when a child may have ended, or after the time
  void end();
};

}  // namespace platform
}  // namespace afunix
