// proposal-1: Christian Franke's first proposal in the seed thread (emulations/proposal-1.md): the
// socket file holds a server secret and a client secret; the client sends its secret and
// credentials right after the TCP connect and verifies the server's packet before its first recv,
// so a client may send before the server accepts. libafunix-proposal1.so.
#include <cerrno>

#include "design.h"
#include "socket_file.h"

namespace afunix_emu {
namespace {

// As cygwin-2014's, plus " " and the client secret (35 more characters).
bool plausible_file_size(long long size) { return size >= 86 && size <= 90; }

// The client proves it read the file by sending the client secret and expects the server's
// secret; the server the other way round.
void client_exchange(Exchange* ex, const Secret& secret, const Secret& client_secret, const Cred& own) {
  ex_init(ex, ExKind::kP1Client, client_secret, secret, own);
}
void server_exchange(Exchange* ex, const Secret& secret, const Secret& client_secret, const Cred& own) {
  ex_init(ex, ExKind::kP1Server, secret, client_secret, own);
}

}  // namespace

extern const DesignChoices kDesign = {
    Design::kProposal1,
    /*connection_table=*/false,
    /*client_secret=*/true,
    kSocketCookie,
    kSocketCookieLen,
    plausible_file_size,
    client_exchange,
    server_exchange,
    // The exchange runs in the application's mode: a send waits only for the client's own packet,
    // a nonblocking recv says EAGAIN until the server's packet has come.
    /*exchange_forced_blocking=*/false,
    // The client's packet goes "after actual connect()", not when the application next uses the
    // socket.
    /*packet_at_nonblocking_connect=*/true,
    // The client "aborts the connection" when the server's packet does not verify.
    /*exchange_refused_errno=*/ECONNABORTED,
};

}  // namespace afunix_emu
