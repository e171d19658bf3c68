// proposal-2: the seed thread's second proposal (emulations/proposal-2.md): the socket file is a
// table of connections. bind() writes the server's slot (port, credentials, time); connect()
// registers the client's under the file lock; accept() claims it by the client's port. Nothing is
// exchanged over TCP, so connect() never waits for the server. libafunix-proposal2.so.
#include <cerrno>

#include "design.h"
#include "slot_table.h"

namespace afunix_emu {
namespace {

// A header (magic, type letter, newline) and whole slots.
bool plausible_file_size(long long size) {
  return size > static_cast<long long>(kTableHeaderLen) &&
         (size - static_cast<long long>(kTableHeaderLen)) % static_cast<long long>(kSlotLen) == 0;
}

}  // namespace

extern const DesignChoices kDesign = {
    Design::kProposal2,
    /*connection_table=*/true,
    /*client_secret=*/false,
    kTableMagic,
    kTableMagicLen,
    plausible_file_size,
    // No exchange over TCP: the table carries the credentials.
    /*start_client_exchange=*/nullptr,
    /*start_server_exchange=*/nullptr,
    /*exchange_forced_blocking=*/false,
    /*packet_at_nonblocking_connect=*/false,
    /*exchange_refused_errno=*/ECONNABORTED,
};

}  // namespace afunix_emu
