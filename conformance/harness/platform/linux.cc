// Linux: peer credentials from SO_PEERCRED (struct ucred). The kernel is the oracle; the other
// files of this directory say how each platform's documented API maps onto the same observation.
// And the scenario's process tree, from /proc, for the watchdog.
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

namespace {

// Everything below runs in the watchdog's signal handler: no allocation, no stdio.

// "/proc/<a>/<middle><b><tail>" into out (room for any pid).
void proc_path(char* out, long a, const char* middle, long b, const char* tail) {
  auto put_number = [&out](long n) {
    char digits[24];
    int k = 0;
    do {
      digits[k++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n > 0);
    while (k > 0) *out++ = digits[--k];
  };
  auto put = [&out](const char* s) {
    while (*s) *out++ = *s++;
  };
  put("/proc/");
  put_number(a);
  put(middle);
  if (b >= 0) put_number(b);
  put(tail);
  *out = '\0';
}

// The small file's text, or -1.
ssize_t read_small(const char* path, char* buf, size_t size) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = ::read(fd, buf, size - 1);
  ::close(fd);
  buf[n > 0 ? n : 0] = '\0';
  return n;
}

// The state letter of /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat: after the last ')', since
// the command name in parentheses may hold anything.
bool running(const char* stat_path) {
  char stat[512];
  if (read_small(stat_path, stat, sizeof stat) <= 0) return false;  // ended meanwhile
  const char* close = std::strrchr(stat, ')');
  if (!close || close[1] != ' ') return false;
  switch (close[2]) {
    case 'S':  // waiting for something
    case 'T':  // stopped by a signal (a story's SIGSTOP)
    case 'Z':
    case 'X':
    case 'x':
    case 'I':
      return false;
    default:  // R running or runnable, D uninterruptible, t stopped by a tracer, W, P, ...
      return true;
  }
}

// Another thread of this process running (actor_pairs' connecting thread).
bool other_thread_running(pid_t self) {
  int dir = ::open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return false;
  alignas(8) char entries[2048];
  bool found = false;
  long n;
  while (!found && (n = ::syscall(SYS_getdents64, dir, entries, sizeof entries)) > 0) {
    for (long at = 0; at < n && !found;) {
      // struct linux_dirent64: inode (8), offset (8), record length (2), type (1), name.
      unsigned short length;
      std::memcpy(&length, entries + at + 16, sizeof length);
      const char* name = entries + at + 19;
      long tid = 0;
      for (const char* c = name; *c >= '0' && *c <= '9'; ++c) tid = tid * 10 + (*c - '0');
      if (tid > 0 && tid != self) {
        char path[64];
        proc_path(path, self, "/task/", tid, "/stat");
        found = running(path);
      }
      at += length;
    }
  }
  ::close(dir);
  return found;
}

}  // namespace

bool others_running(pid_t root) {
  pid_t self = ::getpid();
  if (root <= 0) return false;
  if (other_thread_running(self)) return true;
  // Breadth first from root, through each process's children (those of its main thread: the
  // scenario's processes fork from their main thread).
  pid_t tree[256];
  int count = 0, next = 0;
  tree[count++] = root;
  while (next < count) {
    pid_t pid = tree[next++];
    char path[64];
    if (pid != self) {
      proc_path(path, pid, "/stat", -1, "");
      if (running(path)) return true;
    }
    char children[1024];
    proc_path(path, pid, "/task/", pid, "/children");
    if (read_small(path, children, sizeof children) <= 0) continue;
    long child = 0;
    for (const char* c = children; *c; ++c) {
      if (*c >= '0' && *c <= '9') {
        child = child * 10 + (*c - '0');
      } else if (child > 0) {
        if (count < 256) tree[count++] = static_cast<pid_t>(child);
        child = 0;
      }
    }
    if (child > 0 && count < 256) tree[count++] = static_cast<pid_t>(child);
  }
  return false;
}

}  // namespace platform
}  // namespace afunix
