// The credential exchanges that run over the loopback TCP connection, as resumable state machines.
//
//   cygwin-2014 client: send secret(16) -> recv secret, compare -> send cred(12) -> recv cred
//   cygwin-2014 server: recv secret, compare -> send secret -> recv cred -> send cred
//   proposal-1 client:  send client secret+cred(28) ... later, before the first recv/SO_PEERCRED:
//                       recv server secret+cred, compare
//   proposal-1 server:  recv client secret+cred, compare -> send server secret+cred
//
// An Exchange is plain data (it is copied across fork() and passed across exec()), remembers how far
// it got inside a step, and can be resumed after EINTR or EAGAIN. ex_drive() runs it over a socket
// through an ExIo, so tests can inject short reads, interruptions and EOF.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "emu_types.h"

namespace afunix_emu {

enum class ExKind : uint8_t { kNone = 0, kC14Client, kC14Server, kP1Client, kP1Server };

enum class ExStatus : uint8_t {
  kSend,    // the next step sends (ex_send_bytes)
  kRecv,    // the next step receives (ex_recv_buffer)
  kDone,    // every step completed; peer holds the peer's credentials
  kFailed,  // secret mismatch, EOF or an I/O error (failure says which)
};

enum class ExFailure : uint8_t { kNone = 0, kSecretMismatch, kPeerClosed, kIoError };

constexpr size_t kExMaxStep = kSecretBytes + kCredBytes;  // 28, proposal-1's packet

struct Exchange {
  ExKind kind;
  uint8_t step;     // index of the current step
  uint8_t off;      // bytes of the current step already sent or received
  ExFailure failure;
  uint8_t rx[kExMaxStep];  // the step being received
  uint8_t tx[kExMaxStep];  // the step being sent (encoded on demand)
  Secret mine;             // the secret this side sends
  Secret expect;           // the secret the peer must send
  Cred own;                // the credentials this side sends
  Cred peer;               // the credentials the peer sent (valid once kDone)
};

// mine/expect: cygwin-2014 uses the socket's one secret for both; proposal-1's client sends the
// client secret and expects the server secret, its server the other way round.
void ex_init(Exchange* ex, ExKind kind, const Secret& mine, const Secret& expect, const Cred& own);
ExStatus ex_status(const Exchange& ex);

// kSend: the bytes still to send in this step (points into ex->tx).
const uint8_t* ex_send_bytes(Exchange* ex, size_t* len);
void ex_sent(Exchange* ex, size_t n);

// kRecv: where the bytes still missing in this step go, and how many.
uint8_t* ex_recv_buffer(Exchange* ex, size_t* len);
// n bytes arrived in the buffer; n == 0 means the peer closed (the exchange fails).
void ex_received(Exchange* ex, size_t n);
void ex_fail(Exchange* ex, ExFailure why);

// How the exchange reaches the socket: send and recv with the semantics of the libc calls.
struct ExIo {
  ssize_t (*send)(int fd, const void* buf, size_t len, int flags);
  ssize_t (*recv)(int fd, void* buf, size_t len, int flags);
};

enum class DriveGoal { kDone, kSendsFlushed };

// Runs ex on fd until the goal: kDone (every step) or kSendsFlushed (stop at the first receive).
// dontwait adds MSG_DONTWAIT to each call. Sends use MSG_NOSIGNAL.
// Returns 0 when the goal is reached; -1 with errno EINTR or EAGAIN when interrupted or when it
// would block (the exchange keeps its progress and can be resumed); -2 when the exchange failed
// (ex->failure says why, errno is the I/O error for kIoError).
int ex_drive(Exchange* ex, int fd, const ExIo& io, DriveGoal goal, bool dontwait);

}  // namespace afunix_emu
