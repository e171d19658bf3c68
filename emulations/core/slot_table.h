// proposal-2's socket file: a connection table. Nothing is exchanged over TCP; the server's port
// and credentials sit in slot 0, and every client, having bound its own loopback port first,
// writes (port, credentials, timestamp) into a free slot under an exclusive lock before it
// connects. accept() finds the slot by the peer's port, takes the credentials and frees the slot.
//
// Layout (text, fixed width, so a slot can be rewritten in place with one pwrite):
//
//   "!<socket-table> s\n"                                           header, 18 bytes ('d': datagram)
//   "PPPPP PPPPPPPPPP UUUUUUUUUU GGGGGGGGGG TTTTTTTTTTTTTTTTTTTT\n"   slot, 60 bytes, repeated
//    port  pid        uid        gid        timestamp (seconds since the epoch)
//
// Slot 0 is the server (taken at bind(), as the seed's pseudocode does). A client slot is free when
// its port is 00000. Allocation: the slot already holding this port (a stale entry of an earlier
// client that got the same ephemeral port), else a free slot, else a new slot appended (up to
// kMaxClientSlots), else the oldest slot older than kSlotTtlSeconds; else the table is full.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "emu_types.h"

namespace afunix_emu {

constexpr char kTableMagic[] = "!<socket-table> ";
constexpr size_t kTableMagicLen = sizeof kTableMagic - 1;
constexpr size_t kTableHeaderLen = kTableMagicLen + 2;  // magic, type letter, '\n'
constexpr size_t kSlotLen = 60;
constexpr size_t kMaxClientSlots = 1024;
constexpr size_t kTableMax = kTableHeaderLen + (1 + kMaxClientSlots) * kSlotLen;
constexpr int64_t kSlotTtlSeconds = 60;

struct Slot {
  uint16_t port;
  Cred cred;
  int64_t stamp;
};

// Header for a table of sockets of `type` (SOCK_STREAM/SOCK_DGRAM); returns its length or 0.
size_t format_table_header(int type, char* out, size_t cap);
// Exactly kSlotLen bytes, newline-terminated, no NUL.
void format_slot(const Slot& slot, char out[kSlotLen]);

// Validates a whole table: 0, or EBADF (no magic, truncated header or slot, malformed field,
// length not header + n * slot, slot 0 without a port, more than 1 + kMaxClientSlots slots) or
// EPROTOTYPE (type letter neither 's' nor 'd'). On success *type and *nslots (>= 1) are set.
int parse_table(const char* data, size_t len, int* type, size_t* nslots);

// Slot i of a table that parse_table accepted.
Slot table_slot(const char* data, size_t i);

// Where a client with `port` writes its slot: an index < nslots, nslots to append, or -1 when the
// table is full.
long plan_client_slot(const char* data, size_t nslots, uint16_t port, int64_t now);

// The client slot (index >= 1) holding port, or -1.
long find_client_slot(const char* data, size_t nslots, uint16_t port);

// ---- operations on the file, each under an exclusive flock() --------------------------------------
// All return 0 or an errno. A lock wait interrupted by a signal returns EINTR (never retried).
// Opening the file needs read and write permission (O_RDWR) except for table_read_server.

// bind(): creates the file (EEXIST if it exists), locks it, writes the header and slot 0, sets mode.
int table_create(const char* path, mode_t mode, int type, const Slot& server);

// connect(): registers the client's slot and returns the server's slot 0. EPROTOTYPE when the table
// is of another type, EAGAIN when the table is full.
int table_register(const char* path, int type, const Slot& client, Slot* server);

// accept(): takes the client slot for port and frees it. ESRCH when no slot holds that port.
int table_claim(const char* path, uint16_t port, Slot* client);

// A connect() that failed after registering frees its slot again.
int table_release(const char* path, uint16_t port);

// Datagram sendto()/connect(): reads the type and slot 0 (read permission suffices).
int table_read_server(const char* path, int* type, Slot* server);

}  // namespace afunix_emu
