// The per-process descriptor table, the real libc functions, and the library constructor that
// restores the states an exec() carried over (see sock_state.h).
#include <dlfcn.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "shim.h"

namespace afunix_emu {

RealFns real;
Entry** g_table[kMaxFd >> kChunkBits];

namespace {

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
bool g_debug = false;
bool g_no_handshake = false;

Entry* entry_locked(int fd) {
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(kMaxFd)) return nullptr;
  Entry** chunk = g_table[fd >> kChunkBits];
  return chunk ? chunk[fd & (kChunkSize - 1)] : nullptr;
}

// Stores e at fd (nullptr clears); returns false if fd is beyond the table or memory is short.
bool store_locked(int fd, Entry* e) {
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(kMaxFd)) return false;
  Entry**& chunk = g_table[fd >> kChunkBits];
  if (!chunk) {
    if (!e) return true;
    auto* fresh = static_cast<Entry**>(std::calloc(kChunkSize, sizeof(Entry*)));
    if (!fresh) return false;
    __atomic_store_n(&chunk, fresh, __ATOMIC_RELEASE);
  }
  __atomic_store_n(&chunk[fd & (kChunkSize - 1)], e, __ATOMIC_RELEASE);
  return true;
}

void release_locked(Entry* e) {
  if (!e || --e->refs > 0) return;
  if (e->st.stash_fd >= 0 && real.close) real.close(e->st.stash_fd);
  std::free(e);
}

void drop_locked(int fd) {
  Entry* e = entry_locked(fd);
  if (!e) return;
  store_locked(fd, nullptr);
  release_locked(e);
}

void atfork_prepare() { pthread_mutex_lock(&g_lock); }
void atfork_parent() { pthread_mutex_unlock(&g_lock); }
void atfork_child() { pthread_mutex_unlock(&g_lock); }

// One restored descriptor: keep it only if it is still the same socket.
struct RestoreCtx {
  int fds[256];
  uint64_t inos[256];
  int n;
};

void restore_one(int fd, const SockState& saved, void* arg) {
  auto* ctx = static_cast<RestoreCtx*>(arg);
  if (saved.ino == 0 || socket_inode(fd) != saved.ino) return;
  for (int i = 0; i < ctx->n; ++i) {
    if (ctx->inos[i] == saved.ino) {
      share(ctx->fds[i], fd);
      return;
    }
  }
  SockState st = saved;
  st.stash_fd = -1;  // internal descriptors were close-on-exec
  if (attach(fd, st) && ctx->n < 256) {
    ctx->fds[ctx->n] = fd;
    ctx->inos[ctx->n] = saved.ino;
    ++ctx->n;
  }
}

__attribute__((constructor)) void shim_init() {
  resolve_real();
  const char* dbg = std::getenv("AFUNIX_EMU_DEBUG");
  g_debug = dbg && *dbg && std::strcmp(dbg, "0") != 0;
  const char* nh = std::getenv("AFUNIX_EMU_NOHANDSHAKE");
  g_no_handshake = nh && *nh && std::strcmp(nh, "0") != 0;
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  // An explicitly named mirror directory is made now, while the process may still be privileged
  // (a test harness that later switches to other users); the default one is made at bind().
  if (const char* dir = std::getenv("AFUNIX_EMU_TRAVERSE_DIR"); dir && *dir) prepare_mirror_dir();
  if (const char* saved = std::getenv(kStateEnvName)) {
    RestoreCtx ctx;
    ctx.n = 0;
    parse_state_value(saved, static_cast<uint8_t>(kDesign.id), restore_one, &ctx);
    debug("restored %d socket(s) from %s", ctx.n, kStateEnvName);
    unsetenv(kStateEnvName);
  }
}

}  // namespace

void resolve_real() {
  RealFns r{};
  resolve(r.socket, "socket");
  resolve(r.socketpair, "socketpair");
  resolve(r.bind, "bind");
  resolve(r.listen, "listen");
  resolve(r.connect, "connect");
  resolve(r.accept, "accept");
  resolve(r.accept4, "accept4");
  resolve(r.getsockname, "getsockname");
  resolve(r.getpeername, "getpeername");
  resolve(r.getsockopt, "getsockopt");
  resolve(r.setsockopt, "setsockopt");
  resolve(r.send, "send");
  resolve(r.recv, "recv");
  resolve(r.sendto, "sendto");
  resolve(r.recvfrom, "recvfrom");
  resolve(r.sendmsg, "sendmsg");
  resolve(r.recvmsg, "recvmsg");
  resolve(r.sendmmsg, "sendmmsg");
  resolve(r.recvmmsg, "recvmmsg");
  resolve(r.shutdown, "shutdown");
  resolve(r.close, "close");
  resolve(r.close_range, "close_range");
  resolve(r.closefrom, "closefrom");
  resolve(r.dup, "dup");
  resolve(r.dup2, "dup2");
  resolve(r.dup3, "dup3");
  resolve(r.fcntl, "fcntl");
  resolve(r.fcntl64, "fcntl64");
  resolve(r.read, "read");
  resolve(r.write, "write");
  resolve(r.readv, "readv");
  resolve(r.writev, "writev");
  resolve(r.read_chk, "__read_chk");
  resolve(r.recv_chk, "__recv_chk");
  resolve(r.recvfrom_chk, "__recvfrom_chk");
  resolve(r.execve, "execve");
  resolve(r.execvpe, "execvpe");
  resolve(r.fexecve, "fexecve");
  r.ready = true;
  real = r;
}

SockState* lookup_checked(int fd) {
  SockState* st = lookup(fd);
  if (st && socket_inode(fd) != st->ino) {
    debug("fd %d is no longer the emulated socket; forgetting it", fd);
    detach(fd);
    return nullptr;
  }
  return st;
}

SockState* attach(int fd, const SockState& st) {
  auto* e = static_cast<Entry*>(std::calloc(1, sizeof(Entry)));
  if (!e) return nullptr;
  e->st = st;
  e->refs = 1;
  pthread_mutex_lock(&g_lock);
  drop_locked(fd);
  bool ok = store_locked(fd, e);
  pthread_mutex_unlock(&g_lock);
  if (!ok) {
    std::free(e);
    return nullptr;
  }
  return &e->st;
}

void share(int from, int fd) {
  if (from == fd) return;
  pthread_mutex_lock(&g_lock);
  Entry* e = entry_locked(from);
  if (entry_locked(fd) != e) {
    drop_locked(fd);
    if (e && store_locked(fd, e)) ++e->refs;
  }
  pthread_mutex_unlock(&g_lock);
}

void detach(int fd) {
  if (!lookup(fd)) return;  // never take the lock for ordinary descriptors
  pthread_mutex_lock(&g_lock);
  drop_locked(fd);
  pthread_mutex_unlock(&g_lock);
}

void detach_range(unsigned first, unsigned last) {
  if (first >= static_cast<unsigned>(kMaxFd)) return;
  if (last >= static_cast<unsigned>(kMaxFd)) last = kMaxFd - 1;
  pthread_mutex_lock(&g_lock);
  for (unsigned c = first >> kChunkBits; c <= last >> kChunkBits; ++c) {
    if (!g_table[c]) continue;
    for (int i = 0; i < kChunkSize; ++i) {
      unsigned fd = (c << kChunkBits) | static_cast<unsigned>(i);
      if (fd >= first && fd <= last && g_table[c][i]) drop_locked(static_cast<int>(fd));
    }
  }
  pthread_mutex_unlock(&g_lock);
}

void for_each_state(void (*fn)(int fd, SockState* st, void* arg), void* arg) {
  for (int c = 0; c < (kMaxFd >> kChunkBits); ++c) {
    Entry** chunk = __atomic_load_n(&g_table[c], __ATOMIC_ACQUIRE);
    if (!chunk) continue;
    for (int i = 0; i < kChunkSize; ++i) {
      Entry* e = __atomic_load_n(&chunk[i], __ATOMIC_ACQUIRE);
      if (e) fn((c << kChunkBits) | i, &e->st, arg);
    }
  }
}

uint64_t socket_inode(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

void debug(const char* fmt, ...) {
  if (!g_debug) return;
  char buf[512];
  int n = std::snprintf(buf, sizeof buf, "afunix-emu[%s %d]: ", design_name(kDesign.id), getpid());
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf + n, sizeof buf - static_cast<size_t>(n) - 1, fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  buf[len++] = '\n';
  int saved = errno;
  if (real.write) real.write(2, buf, len);
  errno = saved;
}

bool forced_no_handshake() { return g_no_handshake; }

}  // namespace afunix_emu
