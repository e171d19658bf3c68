#include "socket_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace afunix_emu {
namespace {

// Formats one secret as XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX (35 characters, no NUL).
void format_secret(const Secret& s, char out[36]) {
  std::snprintf(out, 36, "%08X-%08X-%08X-%08X", s.w[0], s.w[1], s.w[2], s.w[3]);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A bounded cursor over the file content: every read checks the end.
struct Cursor {
  const char* p;
  const char* end;
  bool at_end() const { return p >= end; }
  bool take(char c) {
    if (p < end && *p == c) {
      ++p;
      return true;
    }
    return false;
  }
};

bool parse_secret(Cursor* c, Secret* out) {
  for (int word = 0; word < 4; ++word) {
    if (word > 0 && !c->take('-')) return false;
    uint32_t v = 0;
    for (int i = 0; i < 8; ++i) {
      if (c->at_end()) return false;
      int h = hex_value(*c->p);
      if (h < 0) return false;
      v = v << 4 | static_cast<uint32_t>(h);
      ++c->p;
    }
    out->w[word] = v;
  }
  return true;
}

}  // namespace

size_t format_socket_file(const SocketFile& f, char* out, size_t cap) {
  char type;
  if (f.type == SOCK_STREAM)
    type = 's';
  else if (f.type == SOCK_DGRAM)
    type = 'd';
  else
    return 0;
  char secret[36], client[36];
  format_secret(f.secret, secret);
  int n;
  if (f.has_client_secret) {
    format_secret(f.client_secret, client);
    n = std::snprintf(out, cap, "%s%u %c %s %s", kSocketCookie, f.port, type, secret, client);
  } else {
    n = std::snprintf(out, cap, "%s%u %c %s", kSocketCookie, f.port, type, secret);
  }
  if (n < 0 || static_cast<size_t>(n) + 1 > cap) return 0;
  return static_cast<size_t>(n) + 1;  // the trailing NUL is part of the file
}

int parse_socket_file(const char* data, size_t len, SocketFile* out) {
  if (len < kSocketCookieLen || std::memcmp(data, kSocketCookie, kSocketCookieLen) != 0)
    return EBADF;
  Cursor c{data + kSocketCookieLen, data + len};
  SocketFile f;

  // PORT: 1 to 5 decimal digits, 1..65535.
  uint32_t port = 0;
  int digits = 0;
  while (!c.at_end() && *c.p >= '0' && *c.p <= '9') {
    if (++digits > 5) return EBADF;
    port = port * 10 + static_cast<uint32_t>(*c.p - '0');
    ++c.p;
  }
  if (digits == 0 || port == 0 || port > 65535) return EBADF;
  f.port = static_cast<uint16_t>(port);

  // Type letter between single spaces.
  if (!c.take(' ') || c.at_end()) return EBADF;
  char letter = *c.p++;
  if (!c.take(' ')) return EBADF;

  if (!parse_secret(&c, &f.secret)) return EBADF;
  if (c.take(' ')) {
    if (!parse_secret(&c, &f.client_secret)) return EBADF;
    f.has_client_secret = true;
  }
  // Cygwin writes a trailing NUL; accept its absence (end of data) but nothing else.
  if (!c.at_end() && *c.p != '\0') return EBADF;

  // A well-formed file with an unknown letter is a type mismatch, as in Cygwin (type 0).
  if (letter == 's')
    f.type = SOCK_STREAM;
  else if (letter == 'd')
    f.type = SOCK_DGRAM;
  else
    return EPROTOTYPE;
  *out = f;
  return 0;
}

mode_t adjust_socket_mode(mode_t mode) {
  return mode | ((mode & (S_IWUSR | S_IWGRP | S_IWOTH)) << 1);
}

int raw_openat(int dirfd, const char* path, int flags, mode_t mode) {
  return static_cast<int>(::syscall(SYS_openat, dirfd, path, flags, mode));
}

int raw_open(const char* path, int flags, mode_t mode) {
  return raw_openat(AT_FDCWD, path, flags, mode);
}

int create_socket_file(const char* path, mode_t mode, const char* content, size_t len) {
  int fd = raw_open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  size_t off = 0;
  int err = 0;
  while (off < len) {
    ssize_t n = ::pwrite(fd, content + off, len - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    off += static_cast<size_t>(n);
  }
  if (err == 0 && ::fchmod(fd, mode & 07777) != 0) err = errno;
  ::close(fd);
  if (err != 0) ::unlink(path);
  return err;
}

int read_socket_file(const char* path, int open_flags, char* buf, size_t cap, size_t* len) {
  int fd = raw_open(path, open_flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return errno == ENXIO ? EBADF : errno;  // ENXIO: a real AF_UNIX socket, a FIFO...
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return EBADF;
  }
  size_t got = 0;
  while (got < cap) {
    ssize_t n = ::pread(fd, buf + got, cap - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  *len = got;
  return 0;
}

// ---- traverse mirror ----------------------------------------------------------------------------

bool lexical_absolute(const char* cwd, const char* path, char* out, size_t cap) {
  if (cap < 2) return false;
  size_t len = 0;
  out[len] = '\0';
  // Appends the components of s, resolving "." and "..".
  auto walk = [&](const char* s) {
    while (*s) {
      while (*s == '/') ++s;
      if (!*s) break;
      const char* e = s;
      while (*e && *e != '/') ++e;
      size_t n = static_cast<size_t>(e - s);
      if (n == 1 && s[0] == '.') {
        // nothing
      } else if (n == 2 && s[0] == '.' && s[1] == '.') {
        while (len > 0 && out[len - 1] != '/') --len;
        if (len > 0) --len;  // the slash
        out[len] = '\0';
      } else {
        if (len + 1 + n + 1 > cap) return false;
        out[len++] = '/';
        std::memcpy(out + len, s, n);
        len += n;
        out[len] = '\0';
      }
      s = e;
    }
    return true;
  };
  if (path[0] != '/' && !walk(cwd)) return false;
  if (!walk(path)) return false;
  if (len == 0) {
    out[0] = '/';
    out[1] = '\0';
  }
  return true;
}

bool traverse_mirror_path(const char* dir, const char* abs_path, char* out, size_t cap) {
  uint64_t h = 1469598103934665603ULL;
  for (const char* p = abs_path; *p; ++p) {
    h ^= static_cast<unsigned char>(*p);
    h *= 1099511628211ULL;
  }
  int n = std::snprintf(out, cap, "%s/%016llx", dir, static_cast<unsigned long long>(h));
  return n > 0 && static_cast<size_t>(n) < cap;
}

const char* traverse_dir() {
  const char* d = std::getenv("AFUNIX_EMU_TRAVERSE_DIR");
  if (!d) return "/tmp/afunix-emu-traverse";
  if (!*d || std::strcmp(d, "off") == 0) return nullptr;
  return d;
}

bool traverse_link_name(const char* path, char* out, size_t cap) {
  const char* dir = traverse_dir();
  char cwd[4096], abs[4096];
  if (!dir || !getcwd(cwd, sizeof cwd)) return false;
  return lexical_absolute(cwd, path, abs, sizeof abs) && traverse_mirror_path(dir, abs, out, cap);
}

bool traverse_link_for(const char* path, char* out, size_t cap) {
  if (!traverse_link_name(path, out, cap)) return false;
  // statx straight to the kernel: the interposed stat would call the file a socket.
  struct statx stx;
  if (::syscall(SYS_statx, AT_FDCWD, out, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_NLINK, &stx) != 0)
    return false;
  return S_ISREG(stx.stx_mode) && stx.stx_nlink >= 2;
}

// ---- addresses ----------------------------------------------------------------------------------

namespace {
constexpr size_t kPathOffset = offsetof(sockaddr_un, sun_path);
constexpr size_t kPathMax = sizeof(sockaddr_un::sun_path);
}  // namespace

int parse_bind_addr(const sockaddr* sa, socklen_t len, UnixAddr* out) {
  if (sa == nullptr) return EFAULT;
  if (len < sizeof(sa_family_t)) return EINVAL;
  if (sa->sa_family != AF_UNIX) return EINVAL;
  long n = static_cast<long>(len) - static_cast<long>(kPathOffset);
  if (n <= 1) return n == 1 ? ENOENT : EINVAL;
  const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
  size_t plen = strnlen(un->sun_path, std::min(static_cast<size_t>(n), kPathMax));
  if (plen == 0) return ENOENT;  // abstract names are empty paths to Cygwin
  out->kind = AddrKind::kPath;
  std::memcpy(out->path, un->sun_path, plen);
  out->path[plen] = '\0';
  return 0;
}

int parse_connect_addr(const sockaddr* sa, socklen_t len, UnixAddr* out) {
  if (sa == nullptr) return EFAULT;
  if (len < sizeof(sa_family_t)) return EINVAL;
  if (sa->sa_family == AF_UNSPEC) {
    out->kind = AddrKind::kUnspec;
    return 0;
  }
  if (sa->sa_family != AF_UNIX) return EAFNOSUPPORT;
  const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
  long n = static_cast<long>(len) - static_cast<long>(kPathOffset);
  // Cygwin's get_inet_addr: "\0d" + 4 hex digits + NUL, at least 7 bytes of sun_path.
  if (n >= 7 && un->sun_path[0] == '\0' && un->sun_path[1] == 'd' && un->sun_path[6] == '\0') {
    uint32_t port = 0;
    for (int i = 2; i < 6; ++i) {
      int h = hex_value(un->sun_path[i]);
      if (h < 0) return ENOENT;
      port = port << 4 | static_cast<uint32_t>(h);
    }
    out->kind = AddrKind::kDgramName;
    out->port = static_cast<uint16_t>(port);
    return 0;
  }
  if (n <= 0) return ENOENT;
  size_t plen = strnlen(un->sun_path, std::min(static_cast<size_t>(n), kPathMax));
  if (plen == 0) return ENOENT;
  out->kind = AddrKind::kPath;
  std::memcpy(out->path, un->sun_path, plen);
  out->path[plen] = '\0';
  return 0;
}

socklen_t make_path_addr(const char* path, sockaddr_un* out) {
  std::memset(out, 0, sizeof *out);
  out->sun_family = AF_UNIX;
  size_t plen = path ? strnlen(path, kPathMax - 1) : 0;
  if (plen == 0) return sizeof(sa_family_t);
  std::memcpy(out->sun_path, path, plen);
  return static_cast<socklen_t>(kPathOffset + plen + 1);
}

socklen_t make_dgram_name(uint16_t port, sockaddr_un* out) {
  std::memset(out, 0, sizeof *out);
  out->sun_family = AF_UNIX;
  char buf[8];
  std::snprintf(buf, sizeof buf, "d%04X", port);
  std::memcpy(out->sun_path + 1, buf, 5);  // sun_path = "\0dXXXX\0"
  return static_cast<socklen_t>(kPathOffset + 7);
}

void copy_addr_out(const sockaddr_un& addr, socklen_t full, sockaddr* dst, socklen_t* len) {
  if (len == nullptr) return;
  socklen_t n = std::min(*len, full);
  if (dst != nullptr && n > 0) std::memcpy(dst, &addr, n);
  *len = full;
}

}  // namespace afunix_emu
