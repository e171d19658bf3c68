// Internals of the LD_PRELOAD shim shared by its translation units: the real libc functions
// (dlsym(RTLD_NEXT)) and the per-process descriptor table. What the library's design chooses is
// kDesign (design.h), filled in by the one design file linked into it.
#pragma once

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "design.h"
#include "emu_types.h"
#include "sock_state.h"

#define AFUNIX_EXPORT extern "C" __attribute__((visibility("default")))

namespace afunix_emu {

struct RealFns {
  bool ready;
  int (*socket)(int, int, int);
  int (*socketpair)(int, int, int, int*);
  int (*bind)(int, const sockaddr*, socklen_t);
  int (*listen)(int, int);
  int (*connect)(int, const sockaddr*, socklen_t);
  int (*accept)(int, sockaddr*, socklen_t*);
  int (*accept4)(int, sockaddr*, socklen_t*, int);
  int (*getsockname)(int, sockaddr*, socklen_t*);
  int (*getpeername)(int, sockaddr*, socklen_t*);
  int (*getsockopt)(int, int, int, void*, socklen_t*);
  int (*setsockopt)(int, int, int, const void*, socklen_t);
  ssize_t (*send)(int, const void*, size_t, int);
  ssize_t (*recv)(int, void*, size_t, int);
  ssize_t (*sendto)(int, const void*, size_t, int, const sockaddr*, socklen_t);
  ssize_t (*recvfrom)(int, void*, size_t, int, sockaddr*, socklen_t*);
  ssize_t (*sendmsg)(int, const msghdr*, int);
  ssize_t (*recvmsg)(int, msghdr*, int);
  int (*sendmmsg)(int, mmsghdr*, unsigned, int);
  int (*recvmmsg)(int, mmsghdr*, unsigned, int, struct timespec*);
  int (*shutdown)(int, int);
  int (*close)(int);
  int (*close_range)(unsigned, unsigned, int);
  void (*closefrom)(int);
  int (*dup)(int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
  int (*fcntl)(int, int, ...);
  int (*fcntl64)(int, int, ...);
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*write)(int, const void*, size_t);
  ssize_t (*readv)(int, const iovec*, int);
  ssize_t (*writev)(int, const iovec*, int);
  ssize_t (*read_chk)(int, void*, size_t, size_t);
  ssize_t (*recv_chk)(int, void*, size_t, size_t, int);
  ssize_t (*recvfrom_chk)(int, void*, size_t, size_t, int, sockaddr*, socklen_t*);
  int (*execve)(const char*, char* const[], char* const[]);
  int (*execvpe)(const char*, char* const[], char* const[]);
  int (*fexecve)(int, char* const[], char* const[]);
};
extern RealFns real;
// The next definition of `name` after this library's (dlsym(RTLD_NEXT)): libc's, for every table
// of real functions (this one, stat.cc's).
template <typename F>
void resolve(F*& slot, const char* name) {
  slot = reinterpret_cast<F*>(dlsym(RTLD_NEXT, name));
}
void resolve_real();
inline void ensure_real() {
  if (__builtin_expect(!real.ready, 0)) resolve_real();
}

// Sets errno to err and returns -1, as a failing call does.
inline int fail(int err) {
  errno = err;
  return -1;
}

// ---- the descriptor table -----------------------------------------------------------------------
// Two levels of 1024 so descriptors up to 2^20 can be emulated; higher ones pass through.

constexpr int kChunkBits = 10;
constexpr int kChunkSize = 1 << kChunkBits;
constexpr int kMaxFd = 1 << 20;

struct Entry {
  SockState st;
  int refs;  // descriptors of this process sharing the state (dup)
};

extern Entry** g_table[kMaxFd >> kChunkBits];

// The state of fd, or nullptr when fd is not an emulated socket. Lock-free: safe on every read().
inline SockState* lookup(int fd) {
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(kMaxFd)) return nullptr;
  Entry** chunk = __atomic_load_n(&g_table[fd >> kChunkBits], __ATOMIC_ACQUIRE);
  if (!chunk) return nullptr;
  Entry* e = __atomic_load_n(&chunk[fd & (kChunkSize - 1)], __ATOMIC_ACQUIRE);
  return e ? &e->st : nullptr;
}

// Like lookup, but drops the state if fd no longer is the socket it was made for (a descriptor
// closed behind our back, e.g. by a libc-internal close, and reused). For non-hot paths.
SockState* lookup_checked(int fd);

// Makes fd an emulated socket with a copy of st (replacing whatever fd had).
SockState* attach(int fd, const SockState& st);
// fd becomes another name for the state of `from` (dup).
void share(int from, int fd);
// fd is closed: forget it (the state goes when its last descriptor does).
void detach(int fd);
void detach_range(unsigned first, unsigned last);
// Calls fn for every emulated descriptor.
void for_each_state(void (*fn)(int fd, SockState* st, void* arg), void* arg);

// The inode of fd's socket, or 0.
uint64_t socket_inode(int fd);

// ---- shared by the socket and I/O hooks (sockets.cc) ----------------------------------------------

// Checks before data goes out or comes in on an emulated socket, completing a pending exchange as
// the design requires. Return 0 or the errno the call must fail with.
int before_send(int fd, SockState* st, int flags);
int before_recv(int fd, SockState* st, int flags);
// The flags Cygwin hands on to Winsock (send_internal/recv_internal keep MSG_OOB, MSG_PEEK and
// MSG_DONTROUTE and handle MSG_DONTWAIT, MSG_WAITALL and MSG_NOSIGNAL themselves): MSG_TRUNC,
// MSG_MORE, MSG_EOR ... never reach the TCP or UDP socket.
inline int cygwin_recv_flags(int f) {
  return f & (MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_DONTROUTE | MSG_CMSG_CLOEXEC);
}
inline int cygwin_send_flags(int f) { return f & (MSG_DONTWAIT | MSG_NOSIGNAL | MSG_DONTROUTE); }

// The peer address a receive reports: Cygwin's made-up "\0dXXXX" for a datagram (from its UDP
// source), connect()'s path (or family only) for a stream.
void peer_name_out(const SockState* st, const struct sockaddr_in* from, sockaddr* addr,
                   socklen_t* len);
// sendto()/sendmsg() with an AF_UNIX destination: the loopback address to use (*use is false for
// stream sockets, where the address is checked but ignored, as by Winsock).
int resolve_send_destination(SockState* st, const sockaddr* dest, socklen_t len,
                             struct sockaddr_in* out, bool* use);

// Creates the directory of "bypass traverse checking" links if it is missing (sockets.cc).
void prepare_mirror_dir();

// stat without the socket-file disguise (stat.cc), for the library's own bookkeeping.
int raw_lstat(const char* path, struct stat* st);
int raw_fstatat(int dirfd, const char* path, struct stat* st, int flags);

// Debug output to stderr when AFUNIX_EMU_DEBUG is set.
void debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Whether the library forces the handshake off for every socket (AFUNIX_EMU_NOHANDSHAKE=1).
bool forced_no_handshake();

}  // namespace afunix_emu
