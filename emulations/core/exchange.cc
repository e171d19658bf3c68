#include "exchange.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace afunix_emu {
namespace {

enum class What : uint8_t { kSecret, kCred, kBoth };

struct Step {
  bool send;
  What what;
};

const Step kC14Client[] = {{true, What::kSecret}, {false, What::kSecret},
                           {true, What::kCred}, {false, What::kCred}};
const Step kC14Server[] = {{false, What::kSecret}, {true, What::kSecret},
                           {false, What::kCred}, {true, What::kCred}};
const Step kP1Client[] = {{true, What::kBoth}, {false, What::kBoth}};
const Step kP1Server[] = {{false, What::kBoth}, {true, What::kBoth}};

const Step* steps(ExKind kind, size_t* n) {
  switch (kind) {
    case ExKind::kC14Client: *n = 4; return kC14Client;
    case ExKind::kC14Server: *n = 4; return kC14Server;
    case ExKind::kP1Client: *n = 2; return kP1Client;
    case ExKind::kP1Server: *n = 2; return kP1Server;
    case ExKind::kNone: break;
  }
  *n = 0;
  return nullptr;
}

size_t step_len(What w) {
  switch (w) {
    case What::kSecret: return kSecretBytes;
    case What::kCred: return kCredBytes;
    case What::kBoth: return kSecretBytes + kCredBytes;
  }
  return 0;
}

const Step* current(const Exchange& ex) {
  size_t n;
  const Step* s = steps(ex.kind, &n);
  return s && ex.step < n ? &s[ex.step] : nullptr;
}

// A received step is complete: check the secret, take the credentials.
void finish_recv(Exchange* ex, What what) {
  if (what == What::kSecret || what == What::kBoth) {
    if (decode_secret(ex->rx) != ex->expect) {
      ex->failure = ExFailure::kSecretMismatch;
      return;
    }
  }
  if (what == What::kCred) ex->peer = decode_cred(ex->rx);
  if (what == What::kBoth) ex->peer = decode_cred(ex->rx + kSecretBytes);
  ++ex->step;
  ex->off = 0;
}

}  // namespace

void ex_init(Exchange* ex, ExKind kind, const Secret& mine, const Secret& expect, const Cred& own) {
  std::memset(ex, 0, sizeof *ex);
  ex->kind = kind;
  ex->mine = mine;
  ex->expect = expect;
  ex->own = own;
  ex->peer = Cred{0, static_cast<uint32_t>(-1), static_cast<uint32_t>(-1)};
}

ExStatus ex_status(const Exchange& ex) {
  if (ex.failure != ExFailure::kNone) return ExStatus::kFailed;
  const Step* s = current(ex);
  if (!s) return ex.kind == ExKind::kNone ? ExStatus::kFailed : ExStatus::kDone;
  return s->send ? ExStatus::kSend : ExStatus::kRecv;
}

const uint8_t* ex_send_bytes(Exchange* ex, size_t* len) {
  const Step* s = current(*ex);
  if (!s || !s->send || ex->failure != ExFailure::kNone) {
    *len = 0;
    return nullptr;
  }
  if (s->what == What::kSecret || s->what == What::kBoth) encode_secret(ex->mine, ex->tx);
  if (s->what == What::kCred) encode_cred(ex->own, ex->tx);
  if (s->what == What::kBoth) encode_cred(ex->own, ex->tx + kSecretBytes);
  *len = step_len(s->what) - ex->off;
  return ex->tx + ex->off;
}

void ex_sent(Exchange* ex, size_t n) {
  const Step* s = current(*ex);
  if (!s || !s->send) return;
  size_t total = step_len(s->what);
  ex->off = static_cast<uint8_t>(ex->off + n > total ? total : ex->off + n);
  if (ex->off == total) {
    ++ex->step;
    ex->off = 0;
  }
}

uint8_t* ex_recv_buffer(Exchange* ex, size_t* len) {
  const Step* s = current(*ex);
  if (!s || s->send || ex->failure != ExFailure::kNone) {
    *len = 0;
    return nullptr;
  }
  *len = step_len(s->what) - ex->off;
  return ex->rx + ex->off;
}

void ex_received(Exchange* ex, size_t n) {
  const Step* s = current(*ex);
  if (!s || s->send) return;
  if (n == 0) {
    ex->failure = ExFailure::kPeerClosed;
    return;
  }
  size_t total = step_len(s->what);
  ex->off = static_cast<uint8_t>(ex->off + n > total ? total : ex->off + n);
  if (ex->off == total) finish_recv(ex, s->what);
}

void ex_fail(Exchange* ex, ExFailure why) { ex->failure = why; }

int ex_drive(Exchange* ex, int fd, const ExIo& io, DriveGoal goal, bool dontwait) {
  const int wait_flag = dontwait ? MSG_DONTWAIT : 0;
  for (;;) {
    switch (ex_status(*ex)) {
      case ExStatus::kDone:
        return 0;
      case ExStatus::kFailed:
        return -2;
      case ExStatus::kSend: {
        size_t len;
        const uint8_t* p = ex_send_bytes(ex, &len);
        ssize_t n = io.send(fd, p, len, MSG_NOSIGNAL | wait_flag);
        if (n < 0) {
          if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return -1;
          int err = errno;
          ex_fail(ex, ExFailure::kIoError);
          errno = err;
          return -2;
        }
        ex_sent(ex, static_cast<size_t>(n));
        break;
      }
      case ExStatus::kRecv: {
        if (goal == DriveGoal::kSendsFlushed) return 0;
        size_t len;
        uint8_t* p = ex_recv_buffer(ex, &len);
        ssize_t n = io.recv(fd, p, len, wait_flag);
        if (n < 0) {
          if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return -1;
          int err = errno;
          ex_fail(ex, ExFailure::kIoError);
          errno = err;
          return -2;
        }
        ex_received(ex, static_cast<size_t>(n));
        break;
      }
    }
  }
}

}  // namespace afunix_emu
