// The socket file of cygwin-2014 and proposal-1: a regular file whose content names the loopback
// port and the secret.
//
//   cygwin-2014: "!<socket >PORT s XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX" + NUL
//   proposal-1:  "!<socket >PORT s SERVER-SECRET CLIENT-SECRET" + NUL  (two secrets, see README)
//
// PORT is decimal in host order, the type letter is 's' (stream) or 'd' (datagram), each secret is
// four 32-bit words printed %08X and joined by '-'. Parsing is strict and never reads past `len`;
// every malformed file gives one clear errno (see parse_socket_file).
//
// Also here: the file operations every design shares (creating the file at bind() with the mode
// Cygwin gives it, reading it at connect() without ever blocking), the made-up datagram peer name
// and the AF_UNIX address rules of bind()/connect().
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>

#include "emu_types.h"

namespace afunix_emu {

constexpr char kSocketCookie[] = "!<socket >";
constexpr size_t kSocketCookieLen = sizeof kSocketCookie - 1;
// Cygwin reads at most 128 bytes of a socket file; a proposal-1 file is at most 91.
constexpr size_t kSocketFileMax = 128;

struct SocketFile {
  uint16_t port = 0;
  int type = 0;  // SOCK_STREAM or SOCK_DGRAM
  Secret secret{};
  bool has_client_secret = false;  // proposal-1
  Secret client_secret{};
};

// Writes the content (including the trailing NUL) to out; returns its length, or 0 if cap is too
// small or the type is neither SOCK_STREAM nor SOCK_DGRAM.
size_t format_socket_file(const SocketFile& f, char* out, size_t cap);

// Parses a socket file's content. Returns 0, or:
//   EBADF       not a socket file: shorter than the cookie, wrong cookie, truncated anywhere, port
//               not 1..65535 in decimal, malformed secret, or anything but NUL/end after the last
//               field (Cygwin's "not a socket file" errno);
//   EPROTOTYPE  a well-formed file whose type letter is neither 's' nor 'd' (Cygwin reads type 0,
//               which matches no socket).
int parse_socket_file(const char* data, size_t len, SocketFile* out);

// Cygwin's adjust_socket_file_mode: a read bit is added wherever a write bit is set, so whoever may
// write to a socket may also read the file that names its port and secret.
mode_t adjust_socket_mode(mode_t mode);

// Creates `path` exclusively with `content`, then sets `mode` exactly (umask does not apply a second
// time). Returns 0 or an errno; EEXIST when the path exists. Like Cygwin's, creation is not atomic:
// another process may briefly see an empty regular file.
int create_socket_file(const char* path, mode_t mode, const char* content, size_t len);

// open(2) straight to the kernel (openat(AT_FDCWD) by syscall): the library's own opens of socket
// files must not meet its interposed open(), which refuses socket files as Cygwin does.
int raw_open(const char* path, int flags, mode_t mode = 0);
int raw_openat(int dirfd, const char* path, int flags, mode_t mode = 0);

// Reads up to cap bytes of the file at `path`, opened with open_flags (O_RDONLY for a connect that
// needs read permission, O_RDWR when the design writes too). Never blocks on a FIFO or device:
// anything but a regular file gives EBADF. Returns 0 and sets *len, or an errno.
int read_socket_file(const char* path, int open_flags, char* buf, size_t cap, size_t* len);

// ---- Windows' "bypass traverse checking" ----------------------------------------------------------
// Windows grants every user the privilege to traverse directories they may not search, so Cygwin's
// connect() reaches a socket file whatever the directories on its path say; only the file's own
// permissions count. Linux enforces search permission on every component, so the emulation keeps
// a second name for every socket file: a hard link in a mirror directory, named after the file's
// lexical absolute path. A connect() refused with EACCES retries through that link; the kernel then
// checks the file's own mode, as Windows checks its ACL. A link count below 2 means the original
// name is gone.

// The absolute form of path (relative to cwd unless it starts with '/'), with ".", ".." and
// repeated slashes resolved lexically, without looking at the file system. False if cap is short.
bool lexical_absolute(const char* cwd, const char* path, char* out, size_t cap);

// dir + "/" + 16 hex digits (FNV-1a 64 of abs_path). False if cap is short.
bool traverse_mirror_path(const char* dir, const char* abs_path, char* out, size_t cap);

// The mirror directory: $AFUNIX_EMU_TRAVERSE_DIR, default /tmp/afunix-emu-traverse; nullptr when
// the variable is empty or "off".
const char* traverse_dir();

// The mirror link's name for path (relative to the current directory). False if there is none.
bool traverse_link_name(const char* path, char* out, size_t cap);

// The same, but only if the link exists and the socket file still has its original name too
// (a link count of at least 2): the name through which Windows would have reached the file.
bool traverse_link_for(const char* path, char* out, size_t cap);

// ---- AF_UNIX addresses --------------------------------------------------------------------------

enum class AddrKind {
  kPath,       // a pathname (path holds it, NUL-terminated)
  kDgramName,  // the made-up "\0dXXXX" name of a datagram peer (port holds the UDP port)
  kUnspec,     // AF_UNSPEC (dissolves a datagram association)
};

struct UnixAddr {
  AddrKind kind = AddrKind::kPath;
  char path[sizeof(sockaddr_un::sun_path) + 1] = {};
  uint16_t port = 0;
};

// bind(): Cygwin's rules. addrlen covering only the family (autobind) -> EINVAL; one path byte ->
// ENOENT; an abstract name (sun_path[0] == 0) reads as the empty path -> ENOENT; another family ->
// EINVAL.
int parse_bind_addr(const sockaddr* sa, socklen_t len, UnixAddr* out);

// connect()/sendto(): a path, the made-up datagram name, or AF_UNSPEC. Empty/abstract -> ENOENT;
// shorter than the family -> EINVAL; another family -> EAFNOSUPPORT.
int parse_connect_addr(const sockaddr* sa, socklen_t len, UnixAddr* out);

// Fills *out with an AF_UNIX name for path ("" gives the unnamed address, family only) and returns
// the length Cygwin reports: offsetof(sun_path) + strlen + 1, or sizeof(sa_family_t) when unnamed.
socklen_t make_path_addr(const char* path, sockaddr_un* out);

// The name Cygwin makes up for a datagram peer: "\0d%04X" of its UDP port plus a NUL, 7 bytes of
// sun_path. Returns the address length.
socklen_t make_dgram_name(uint16_t port, sockaddr_un* out);

// Copies a made-up address into the caller's buffer the way the kernel does: at most *len bytes,
// and *len becomes the full length.
void copy_addr_out(const sockaddr_un& addr, socklen_t full, sockaddr* dst, socklen_t* len);

}  // namespace afunix_emu
