// Socket options and control messages newer than the C library headers a build may use (Debian 12
// ships 6.1 headers). The values are those of include/uapi/asm-generic/socket.h and
// include/linux/socket.h, the same on every architecture the suite builds for.
#pragma once

#include <sys/socket.h>

#ifndef SCM_SECURITY
#define SCM_SECURITY 0x03
#endif
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
#ifndef SO_INQ
#define SO_INQ 84
#endif
#ifndef SCM_INQ
#define SCM_INQ SO_INQ
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif
