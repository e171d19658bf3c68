// What a design chooses wherever the seed's designs differ. Each library links exactly one design
// file (design_cygwin2014.cc, design_proposal1.cc, design_proposal2.cc) that defines kDesign with
// its choices and the reasons for them; the shim reads these and never asks which design it is.
// emulations/README.md says what each design models; adding one is adding a file like these.
#pragma once

#include <cstddef>

#include "emu_types.h"
#include "exchange.h"

namespace afunix_emu {

struct DesignChoices {
  Design id;

  // ---- the socket file: bind() writes it, connect() and sendto() read it, stat() disguises it

  // The file is a connection table (proposal-2): bind() creates it holding the server's slot,
  // connect() registers the client's port, credentials and time under the file lock, accept()
  // claims that slot; nothing is exchanged over TCP. Otherwise the file holds the loopback port and
  // a secret, and every stream connection runs an exchange (below).
  bool connection_table;
  // The file also holds the client's secret, a second one (proposal-1's asymmetric exchange); a
  // file without it is not this design's (EBADF).
  bool client_secret;
  // The bytes every socket file of the design starts with, and the sizes its files can have: stat()
  // reports such a regular file as a socket.
  const char* cookie;
  size_t cookie_len;
  bool (*plausible_file_size)(long long size);

  // ---- the exchange on each stream connection (designs without a connection table)

  // What the client and the accepting server send and expect (the secrets from the socket file,
  // the process's own credentials).
  void (*start_client_exchange)(Exchange* ex, const Secret& secret, const Secret& client_secret,
                                const Cred& own);
  void (*start_server_exchange)(Exchange* ex, const Secret& secret, const Secret& client_secret,
                                const Cred& own);
  // The exchange completes in forced blocking mode wherever it is first needed: a blocking
  // connect(), a nonblocking connect() asked again, or the first send or recv (Cygwin's
  // af_local_setblocking). Otherwise it runs in the application's mode: a send only waits for the
  // socket's own packet to be out, a nonblocking recv says EAGAIN until the peer's has come.
  bool exchange_forced_blocking;
  // A nonblocking connect() puts the client's packet on the wire as soon as TCP is up, so that a
  // server can accept before the client next touches the socket.
  bool packet_at_nonblocking_connect;
  // What a client's call fails with when the server's part of the exchange does not verify.
  int exchange_refused_errno;
};

// Defined by the design file linked into the library.
extern const DesignChoices kDesign;

}  // namespace afunix_emu
