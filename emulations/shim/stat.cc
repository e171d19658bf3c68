// stat() of socket files. The design's socket files are regular files; Cygwin's stat reports
// S_IFSOCK for them (it recognises its system attribute and the cookie), and its chmod() of a socket
// file goes through adjust_socket_file_mode. Linux has no system attribute to set, so a file counts
// as a socket file when it is a regular file of a size the design writes and starts with the
// design's cookie (reading it needs read permission: an unreadable file stays "regular").
//
// Interposed: stat, lstat, fstatat, their 64-bit names, statx, the pre-2.33 __xstat family (64-bit
// ABIs only), chmod, fchmodat, and open/openat (a socket file cannot be opened: ENXIO). Not: fstat
// on a descriptor of the file, readdir's d_type, fopen (libc opens internally), or the 32-bit
// time64 variants (__stat64_time64 ...).
#undef _FILE_OFFSET_BITS
#undef _TIME_BITS
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "shim.h"
#include "slot_table.h"
#include "socket_file.h"

using namespace afunix_emu;

namespace {

struct StatFns {
  bool ready;
  int (*stat)(const char*, struct stat*);
  int (*lstat)(const char*, struct stat*);
  int (*fstatat)(int, const char*, struct stat*, int);
  int (*stat64)(const char*, struct stat64*);
  int (*lstat64)(const char*, struct stat64*);
  int (*fstatat64)(int, const char*, struct stat64*, int);
  int (*statx)(int, const char*, int, unsigned, struct statx*);
  int (*chmod)(const char*, mode_t);
  int (*fchmodat)(int, const char*, mode_t, int);
};
StatFns sreal;

void ensure() {
  if (__builtin_expect(sreal.ready, 1)) return;
  StatFns s{};
  resolve(s.stat, "stat");
  resolve(s.lstat, "lstat");
  resolve(s.fstatat, "fstatat");
  resolve(s.stat64, "stat64");
  resolve(s.lstat64, "lstat64");
  resolve(s.fstatat64, "fstatat64");
  resolve(s.statx, "statx");
  resolve(s.chmod, "chmod");
  resolve(s.fchmodat, "fchmodat");
  s.ready = true;
  sreal = s;
}

// The sizes this design's socket files have (its design file says why).
bool plausible_size(long long size) { return kDesign.plausible_file_size(size); }

// Whether the file open at fd starts with the design's cookie.
bool has_cookie(int fd) {
  char head[64];
  if (kDesign.cookie_len > sizeof head) return false;
  ssize_t n = ::pread(fd, head, kDesign.cookie_len, 0);
  return n == static_cast<ssize_t>(kDesign.cookie_len) &&
         std::memcmp(head, kDesign.cookie, kDesign.cookie_len) == 0;
}

// Whether the regular file at dirfd/path is one of the design's socket files.
bool is_socket_file(int dirfd, const char* path, unsigned mode, long long size, bool follow) {
  if (!S_ISREG(mode) || !plausible_size(size) || !path) return false;
  int saved = errno;
  int fd = raw_openat(dirfd, path,
                      O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
  bool yes = false;
  if (fd >= 0) {
    yes = has_cookie(fd);
    ensure_real();
    real.close(fd);
  }
  errno = saved;
  return yes;
}

// The same question about an open descriptor.
bool is_socket_file_fd(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !plausible_size(st.st_size)) return false;
  return has_cookie(fd);
}

bool empty_path(const char* p) { return p == nullptr || *p == '\0'; }

template <typename St>
int fix(int r, int dirfd, const char* path, St* buf, bool follow) {
  if (r == 0 && buf && is_socket_file(dirfd, path, buf->st_mode, buf->st_size, follow))
    buf->st_mode = (buf->st_mode & ~S_IFMT) | S_IFSOCK;
  return r;
}

}  // namespace

namespace afunix_emu {

int raw_lstat(const char* path, struct stat* st) {
  ensure();
  return sreal.lstat(path, st);
}

int raw_fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  ensure();
  return sreal.fstatat(dirfd, path, st, flags);
}

}  // namespace afunix_emu

AFUNIX_EXPORT int stat(const char* path, struct stat* buf) __THROW {
  ensure();
  return fix(sreal.stat(path, buf), AT_FDCWD, path, buf, true);
}

AFUNIX_EXPORT int lstat(const char* path, struct stat* buf) __THROW {
  ensure();
  return fix(sreal.lstat(path, buf), AT_FDCWD, path, buf, false);
}

AFUNIX_EXPORT int fstatat(int dirfd, const char* path, struct stat* buf, int flags) __THROW {
  ensure();
  int r = sreal.fstatat(dirfd, path, buf, flags);
  if ((flags & AT_EMPTY_PATH) && empty_path(path)) return r;  // fstat of a descriptor
  return fix(r, dirfd, path, buf, !(flags & AT_SYMLINK_NOFOLLOW));
}

AFUNIX_EXPORT int stat64(const char* path, struct stat64* buf) __THROW {
  ensure();
  return fix(sreal.stat64(path, buf), AT_FDCWD, path, buf, true);
}

AFUNIX_EXPORT int lstat64(const char* path, struct stat64* buf) __THROW {
  ensure();
  return fix(sreal.lstat64(path, buf), AT_FDCWD, path, buf, false);
}

AFUNIX_EXPORT int fstatat64(int dirfd, const char* path, struct stat64* buf, int flags) __THROW {
  ensure();
  int r = sreal.fstatat64(dirfd, path, buf, flags);
  if ((flags & AT_EMPTY_PATH) && empty_path(path)) return r;
  return fix(r, dirfd, path, buf, !(flags & AT_SYMLINK_NOFOLLOW));
}

AFUNIX_EXPORT int statx(int dirfd, const char* path, int flags, unsigned int mask,
                        struct statx* buf) __THROW {
  ensure();
  if (!sreal.statx) {
    errno = ENOSYS;
    return -1;
  }
  int r = sreal.statx(dirfd, path, flags, mask, buf);
  if (r == 0 && (buf->stx_mask & STATX_TYPE) && (buf->stx_mask & STATX_SIZE) &&
      !((flags & AT_EMPTY_PATH) && empty_path(path)) &&
      is_socket_file(dirfd, path, buf->stx_mode, static_cast<long long>(buf->stx_size),
                     !(flags & AT_SYMLINK_NOFOLLOW)))
    buf->stx_mode = static_cast<uint16_t>((buf->stx_mode & ~S_IFMT) | S_IFSOCK);
  return r;
}

#if defined(__x86_64__) || defined(__aarch64__)
// Binaries built against glibc < 2.33 call these; on 64-bit ABIs their struct is struct stat.
AFUNIX_EXPORT int __xstat(int, const char* path, struct stat* buf) { return stat(path, buf); }
AFUNIX_EXPORT int __lxstat(int, const char* path, struct stat* buf) { return lstat(path, buf); }
AFUNIX_EXPORT int __fxstatat(int, int dirfd, const char* path, struct stat* buf, int flags) {
  return fstatat(dirfd, path, buf, flags);
}
AFUNIX_EXPORT int __xstat64(int, const char* path, struct stat64* buf) { return stat64(path, buf); }
AFUNIX_EXPORT int __lxstat64(int, const char* path, struct stat64* buf) {
  return lstat64(path, buf);
}
AFUNIX_EXPORT int __fxstatat64(int, int dirfd, const char* path, struct stat64* buf, int flags) {
  return fstatat64(dirfd, path, buf, flags);
}
#endif

// ---- open ---------------------------------------------------------------------------------------
// Cygwin's fhandler_socket::open: a socket file cannot be opened (ENXIO, as on Linux).

extern "C" {
int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);
}

namespace {

struct OpenFns {
  bool ready;
  int (*open)(const char*, int, ...);
  int (*open64)(const char*, int, ...);
  int (*openat)(int, const char*, int, ...);
  int (*openat64)(int, const char*, int, ...);
};
OpenFns oreal;

void ensure_open() {
  if (__builtin_expect(oreal.ready, 1)) return;
  OpenFns o{};
  resolve(o.open, "open");
  resolve(o.open64, "open64");
  resolve(o.openat, "openat");
  resolve(o.openat64, "openat64");
  o.ready = true;
  oreal = o;
}

int enxio() {
  errno = ENXIO;
  return -1;
}

bool needs_mode(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

// Opening for writing (or truncating) is refused before anything happens to the file; a read-only
// open is checked on the descriptor it gave.
bool refuse_before(int dirfd, const char* path, int flags) {
  if ((flags & O_PATH) || ((flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC))) return false;
  ensure();
  struct stat st;
  bool follow = !(flags & O_NOFOLLOW);
  int saved = errno;
  bool yes = sreal.fstatat(dirfd, path, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0 &&
             is_socket_file(dirfd, path, st.st_mode, st.st_size, follow);
  errno = saved;
  return yes;
}

int refuse_after(int fd, int flags) {
  if (fd < 0 || (flags & O_PATH)) return fd;
  if (!is_socket_file_fd(fd)) return fd;
  ensure_real();
  real.close(fd);
  errno = ENXIO;
  return -1;
}

}  // namespace

#define MODE_ARG(flags, last)                        \
  mode_t mode = 0;                                   \
  if (needs_mode(flags)) {                           \
    va_list ap;                                      \
    va_start(ap, last);                              \
    mode = static_cast<mode_t>(va_arg(ap, int));     \
    va_end(ap);                                      \
  }

AFUNIX_EXPORT int open(const char* path, int flags, ...) {
  MODE_ARG(flags, flags);
  ensure_open();
  if (refuse_before(AT_FDCWD, path, flags)) return enxio();
  return refuse_after(oreal.open(path, flags, mode), flags);
}

AFUNIX_EXPORT int open64(const char* path, int flags, ...) {
  MODE_ARG(flags, flags);
  ensure_open();
  if (refuse_before(AT_FDCWD, path, flags)) return enxio();
  return refuse_after(oreal.open64(path, flags, mode), flags);
}

AFUNIX_EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  MODE_ARG(flags, flags);
  ensure_open();
  if (refuse_before(dirfd, path, flags)) return enxio();
  return refuse_after(oreal.openat(dirfd, path, flags, mode), flags);
}

AFUNIX_EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
  MODE_ARG(flags, flags);
  ensure_open();
  if (refuse_before(dirfd, path, flags)) return enxio();
  return refuse_after(oreal.openat64(dirfd, path, flags, mode), flags);
}

AFUNIX_EXPORT int __open_2(const char* path, int flags) { return open(path, flags); }
AFUNIX_EXPORT int __open64_2(const char* path, int flags) { return open64(path, flags); }
AFUNIX_EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  return openat(dirfd, path, flags);
}
AFUNIX_EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  return openat64(dirfd, path, flags);
}

// chmod of a socket file: a read bit wherever a write bit is set (Cygwin's fchmod on sockets).
AFUNIX_EXPORT int chmod(const char* path, mode_t mode) __THROW {
  ensure();
  struct stat st;
  if (sreal.stat && sreal.stat(path, &st) == 0 &&
      is_socket_file(AT_FDCWD, path, st.st_mode, st.st_size, true))
    mode = adjust_socket_mode(mode);
  return sreal.chmod(path, mode);
}

AFUNIX_EXPORT int fchmodat(int dirfd, const char* path, mode_t mode, int flags) __THROW {
  ensure();
  struct stat st;
  bool follow = !(flags & AT_SYMLINK_NOFOLLOW);
  if (sreal.fstatat && sreal.fstatat(dirfd, path, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0 &&
      is_socket_file(dirfd, path, st.st_mode, st.st_size, follow))
    mode = adjust_socket_mode(mode);
  return sreal.fchmodat(dirfd, path, mode, flags);
}
