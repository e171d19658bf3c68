// Actor, "Processes and the trace" (scenario.h): an actor forking a child that inherits its
// descriptors, exec'ing a program to see which descriptors survive, and writing its observations.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "actor_util.h"
#include "context.h"
#include "internal.h"
#include "names.h"
#include "observation.h"
#include "platform.h"
#include "scenario.h"
#include "watchdog.h"

namespace afunix {

using util::outcome;

// ---- children -------------------------------------------------------------------------------

Child Actor::fork(const std::string& role, std::function<void(Actor&)> body) {
  Child c;
  c.role = role;
  c.identity = context::uid_name(geteuid());
  int trace = context::scratch_file();
  int done[2];
  if (trace < 0 || pipe(done) != 0) {
    record(Obs("fork").str("child", role).str("result", errno_name(errno)).encode());
    return c;
  }
  c.trace_fd = trace;
  pid_t pid = ::fork();
  int err = errno;
  if (pid == 0) {
    // The child: a new actor on its own trace, holding the write end of `done` until it ends.
    ::close(done[0]);
    context::register_process(getpid(), role);
    Actor child(role, c.trace_fd);
    internal::enter_child(&child);
    body(child);
    _exit(0);
  }
  ::close(done[1]);
  if (pid < 0) {
    ::close(done[0]);
    ::close(c.trace_fd);
    c.trace_fd = -1;
  } else {
    c.pid = pid;
    c.done_fd = done[0];
    internal::child_started();
  }
  record(Obs("fork").str("child", role).str("result", outcome(pid, err)).encode());
  return c;
}

void Actor::join(Child& c) {
  if (c.pid <= 0) {
    record(Obs("join").str("child", c.role).str("result", "never started").encode());
    return;
  }
  // The child holds the only write end of done_fd: end of file means it has ended.
  pollfd p{c.done_fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, context::event_timeout_ms());
  } while (r < 0 && errno == EINTR);
  std::string end;
  if (r == 0) {
    ::kill(c.pid, SIGKILL);
    end = "killed at join";
  }
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (end.empty()) end = internal::end_of(status);
  internal::child_ended();
  ::close(c.done_fd);

  internal::ActorLines lines = internal::split_trace(internal::read_from_start(c.trace_fd));
  ::close(c.trace_fd);
  std::string obs;
  for (const std::string& line : lines.observations) obs += (obs.empty() ? "" : ",") + line;
  record(Obs("join").str("child", c.role).str("end", end).encode());
  // The child's own actor entry follows this actor's in the trace (see Scenario::run).
  Obs child = Obs::object();
  child.str("role", c.role)
      .str("identity", c.identity)
      .json("observations", "[" + obs + "]")
      .str("end", end);
  record(std::string(1, internal::kChildActorMark) + child.encode());
  // Entries of the child's own children, already marked, each one line of this actor's trace.
  for (const std::string& g : lines.children) record(g);
  c.pid = -1;
}

void Actor::exec_probe(int fd) {
  std::string what = util::describe_fd(fd, false);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, 2);
    // The shell's own descriptors: /proc/self/fd on Linux, /dev/fd on the BSDs, macOS and Cygwin.
    std::string test = std::string("[ -e ") + (AFUNIX_HAVE_PROC_FS ? "/proc/self/fd/" : "/dev/fd/") +
                       std::to_string(fd) + " ]";
    ::execl("/bin/sh", "sh", "-c", test.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid > 0)
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  std::string result = pid < 0                                           ? errno_name(errno)
                       : WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "open"
                       : WIFEXITED(status) && WEXITSTATUS(status) == 1 ? "closed"
                                                                         : "probe failed";
  record(Obs("exec_probe").str("fd", what).str("result", result).encode());
}

pid_t Actor::reaped_pid() {
  pid_t pid = ::fork();
  if (pid == 0) _exit(0);
  int status;
  if (pid > 0) {
    context::register_process(pid, "reaped");
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  record(Obs("reap").str("result", pid > 0 ? "ok" : errno_name(errno)).encode());
  return pid;
}

// ---- epoll ----------------------------------------------------------------------------------

pid_t Actor::pid_of(const std::string& role) const { return context::pid_of(role); }

// ---- the trace ------------------------------------------------------------------------------

void Actor::write_line(const std::string& line) {
  std::string l = line + "\n";
  size_t off = 0;
  while (off < l.size()) {
    ssize_t n = ::write(trace_fd_, l.data() + off, l.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += n;
  }
}

void Actor::record(const std::string& encoded_json_line) { write_line(encoded_json_line); }

}  // namespace afunix
