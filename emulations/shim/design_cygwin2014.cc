// cygwin-2014: Cygwin's AF_UNIX emulation as the seed thread describes it (emulations/cygwin-2014.md):
// loopback TCP plus a socket file holding the port and one secret, and a symmetric handshake (the
// secret, then the credentials, each way) that connect() and accept() run before they return.
// libafunix-cygwin2014.so; cygwin-2014-nohandshake is this design with AFUNIX_EMU_NOHANDSHAKE=1.
#include <cerrno>

#include "design.h"
#include "socket_file.h"

namespace afunix_emu {
namespace {

// The cookie, a 1..5 digit port, " s " or " d ", the secret (four 8-digit hex words joined by '-') and a NUL.
bool plausible_file_size(long long size) { return size >= 50 && size <= 54; }

// Both ends send the one secret of the file and expect it back.
void client_exchange(Exchange* ex, const Secret& secret, const Secret&, const Cred& own) {
  ex_init(ex, ExKind::kC14Client, secret, secret, own);
}
void server_exchange(Exchange* ex, const Secret& secret, const Secret&, const Cred& own) {
  ex_init(ex, ExKind::kC14Server, secret, secret, own);
}

}  // namespace

extern const DesignChoices kDesign = {
    Design::kCygwin2014,
    /*connection_table=*/false,
    /*client_secret=*/false,
    kSocketCookie,
    kSocketCookieLen,
    plausible_file_size,
    client_exchange,
    server_exchange,
    // Cygwin sets the socket blocking for the handshake (af_local_setblocking) and runs it when
    // it first sees FD_CONNECT: a nonblocking connect() says EINPROGRESS and the first send, recv
    // or repeated connect() completes the handshake, blocking.
    /*exchange_forced_blocking=*/true,
    /*packet_at_nonblocking_connect=*/false,
    // A client whose handshake fails sees the connection refused.
    /*exchange_refused_errno=*/ECONNREFUSED,
};

}  // namespace afunix_emu
