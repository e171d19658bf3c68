// Processes and readiness beyond poll(): an actor forking a child that inherits its descriptors,
// exec'ing a program to see which descriptors survive, epoll.
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
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
#include "scenario.h"
#include "watchdog.h"

namespace afunix {

using util::outcome;

namespace {


// What each epoll registration of this process is called, by its data.u64 index.
std::vector<std::string>& epoll_labels() {
  static std::vector<std::string> labels;
  return labels;
}

}  // namespace

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

  std::string lines = internal::read_from_start(c.trace_fd);
  ::close(c.trace_fd);
  std::string obs;
  std::vector<std::string> grandchildren;  // entries of the child's own children, already marked
  size_t pos = 0;
  while (pos < lines.size()) {
    size_t nl = lines.find('\n', pos);
    if (nl == std::string::npos) nl = lines.size();
    std::string line = lines.substr(pos, nl - pos);
    // One line: the entry travels as a single line of this actor's trace.
    if (!line.empty() && line[0] == internal::kChildActorMark) grandchildren.push_back(line);
    else if (!line.empty()) obs += (obs.empty() ? "" : ",") + line;
    pos = nl + 1;
  }
  record(Obs("join").str("child", c.role).str("end", end).encode());
  // The child's own actor entry follows this actor's in the trace (see Scenario::run).
  Obs child = Obs::object();
  child.str("role", c.role)
      .str("identity", c.identity)
      .json("observations", "[" + obs + "]")
      .str("end", end);
  record(std::string(1, internal::kChildActorMark) + child.encode());
  for (const std::string& g : grandchildren) record(g);
  c.pid = -1;
}

void Actor::exec_probe(int fd) {
  std::string what = util::describe_fd(fd, false);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, 2);
    std::string test = "[ -e /proc/self/fd/" + std::to_string(fd) + " ]";
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

int Actor::epoll_create() {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  int err = errno;
  record(Obs("epoll_create").str("result", outcome(ep, err)).encode());
  return ep;
}

int Actor::epoll_add(int ep, int fd, unsigned events, const std::string& label) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = epoll_labels().size();
  epoll_labels().push_back(label);
  int r = ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  int err = errno;
  record(Obs("epoll_add")
             .str("fd", label)
             .str("events", epoll_events_name(events))
             .str("result", outcome(r, err))
             .encode());
  return r;
}

int Actor::epoll_wait(int ep, Wait wait) {
  epoll_event evs[16];
  int timeout = wait == Wait::Now ? 0 : context::event_timeout_ms();
  int r;
  do {
    r = ::epoll_wait(ep, evs, 16, timeout);
  } while (r < 0 && errno == EINTR);
  int err = errno;
  Obs o("epoll_wait");
  o.str("wait", wait == Wait::Now ? "now" : "until-ready");
  if (r < 0) {
    o.str("result", errno_name(err));
  } else {
    o.num("result", r);
    std::map<std::string, std::string> ready;  // by label: the order of a ready list is not the story
    for (int i = 0; i < r; ++i) {
      size_t idx = static_cast<size_t>(evs[i].data.u64);
      ready[idx < epoll_labels().size() ? epoll_labels()[idx] : "?"] = epoll_events_name(evs[i].events);
    }
    Obs e = Obs::object();
    for (auto& [label, names] : ready) e.str(label, names);
    o.json("events", e.encode());
  }
  record(o.encode());
  return r;
}

}  // namespace afunix
