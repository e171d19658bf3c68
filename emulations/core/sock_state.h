// What the emulation remembers about one emulated AF_UNIX socket, and how that survives exec().
//
// A SockState is plain data. Within a process it lives in a table indexed by descriptor (dup'ed
// descriptors share one state); fork() copies the table with the rest of the address space, so a
// child sees every socket as its parent left it, and from then on each process keeps its own view
// (as Cygwin's fhandlers do after fork). exec() would lose it, so the exec family is interposed: the
// states of every descriptor that survives exec (not FD_CLOEXEC) are packed into the environment
// variable AFUNIX_EMU_STATE, and the library's constructor in the new image unpacks them, keeping
// only those whose descriptor is still the same socket (same inode), then removes the variable.
#pragma once

#include <sys/types.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>

#include "emu_types.h"
#include "exchange.h"

namespace afunix_emu {

enum class Phase : uint8_t {
  kFresh,          // socket() made it; no name
  kBound,          // bind() gave it a name (and a socket file)
  kListening,      // listen()
  kTcpConnecting,  // a nonblocking or interrupted TCP connect is still in progress
  kExchanging,     // connected over TCP, the design's exchange is not complete (ex)
  kConnected,      // connected; peer credentials known unless the handshake is off
  kBroken,         // the exchange failed; the TCP connection was shut down
};

enum StateFlags : uint16_t {
  kNoHandshake = 1 << 0,  // setsockopt(SO_PEERCRED, NULL, 0) or AFUNIX_EMU_NOHANDSHAKE
  kPair = 1 << 1,         // made by socketpair()
  kAccepted = 1 << 2,     // made by accept()
  kPeerValid = 1 << 3,    // peer holds credentials
  kTcpBound = 1 << 4,     // the underlying socket is bound to 127.0.0.1:tcp_port
  kConnectOk = 1 << 5,    // connect() returned 0: a later connect() is EISCONN, not a resumption
};

constexpr size_t kPathBytes = sizeof(sockaddr_un::sun_path) + 1;
constexpr size_t kFileBytes = 512;

struct SockState {
  uint8_t design;  // Design
  uint8_t type;    // SOCK_STREAM or SOCK_DGRAM
  Phase phase;
  uint8_t reserved;
  uint16_t flags;     // StateFlags
  uint16_t tcp_port;  // own loopback port once bound
  uint64_t ino;       // the socket's inode, to recognise the descriptor after exec
  char path[kPathBytes];       // the name bind() gave it, as given (getsockname)
  char peer_path[kPathBytes];  // the name connect() used (getpeername)
  char file[kFileBytes];       // absolute path of the socket file this socket created
  Cred own;                    // own credentials, captured at listen()/connect()
  Cred peer;                   // the peer's credentials (kPeerValid)
  Secret secret;               // cygwin-2014: the socket's secret; proposal-1: the server secret
  Secret client_secret;        // proposal-1
  Exchange ex;                 // the exchange of a kExchanging socket
  int32_t stash_fd;            // listener: an accepted connection whose exchange was interrupted
  Exchange stash_ex;
};

void init_state(SockState* st, uint8_t design, int type);

// ---- packing states into the environment ------------------------------------------------------
// Value: "v1:<design>:<sizeof SockState>:" then "<fd>=<packed bytes>;" per descriptor. The bytes
// are hex with runs of zero bytes (most of the paths) shortened to "Z<count in hex>.".

constexpr char kStateEnvName[] = "AFUNIX_EMU_STATE";

// Appends the packed bytes to out (NUL-terminated); returns the length written, 0 if cap is short.
size_t pack_bytes(const void* data, size_t len, char* out, size_t cap);
// Unpacks exactly len bytes from text; returns the number of characters consumed, 0 on error.
size_t unpack_bytes(const char* text, void* data, size_t len);

// Writes the header for `design`; returns its length or 0.
size_t format_state_header(uint8_t design, char* out, size_t cap);
// Appends one descriptor's entry; returns its length or 0 if cap is short.
size_t format_state_entry(int fd, const SockState& st, char* out, size_t cap);

// Parses a whole value. For every well-formed entry calls found(fd, state, arg). Returns false if
// the header does not match this build and design (then nothing is reported).
bool parse_state_value(const char* value, uint8_t design,
                       void (*found)(int fd, const SockState& st, void* arg), void* arg);

}  // namespace afunix_emu
