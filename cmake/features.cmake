# What the platform offers the scenario program, asked of the compiler and the C library, never
# assumed from the OS name: the same sources build on Linux, Cygwin/MSYS2, macOS and FreeBSD. The
# answers land in afunix_features.h as AFUNIX_HAVE_<NAME> 0/1; a scenario that needs a missing one
# records "unsupported" naming the feature (conformance/harness/platform.h).
#
# AFUNIX_POSIX_ONLY=ON answers "no" to everything beyond POSIX without asking, so this Linux
# machine builds and runs the program the way a system with none of Linux's extensions would:
# the portability of the guards is tested here, not first on someone else's Mac.
include(CheckCSourceCompiles)
include(CheckSymbolExists)
include(CheckStructHasMember)
include(CMakePushCheckState)

option(AFUNIX_POSIX_ONLY "Build as if no Linux-only socket feature existed" OFF)

cmake_push_check_state(RESET)
set(CMAKE_REQUIRED_DEFINITIONS -D_GNU_SOURCE -D_DEFAULT_SOURCE -D__BSD_VISIBLE=1 -D_DARWIN_C_SOURCE)

# name -> how to find out. Order is the header's order.
set(AFUNIX_FEATURES
    EPOLL SO_PEERCRED GETPEEREID LOCAL_PEERCRED LOCAL_PEERPID SCM_CREDENTIALS SCM_CREDS
    SOCK_SEQPACKET MSG_CMSG_CLOEXEC SO_PEEK_OFF PIDFD ACCEPT4 SENDMMSG PIPE2 SIGTIMEDWAIT
    SOCK_CLOEXEC CLOSE_RANGE PROC_FS)
# Features POSIX (and so the POSIX-only profile) has: asked of the platform in every profile.
set(AFUNIX_POSIX_FEATURES SOCK_SEQPACKET SIGTIMEDWAIT)

# Asks only what the profile lets exist; the answer is AFUNIX_HAVE_<name> (0 or 1).
macro(afunix_ask name)
  set(AFUNIX_ASK_${name} ON)
  if(AFUNIX_POSIX_ONLY AND NOT "${name}" IN_LIST AFUNIX_POSIX_FEATURES)
    set(AFUNIX_ASK_${name} OFF)
  endif()
endmacro()
foreach(f IN LISTS AFUNIX_FEATURES)
  afunix_ask(${f})
endforeach()

if(AFUNIX_ASK_EPOLL)
  check_symbol_exists(epoll_create1 "sys/epoll.h" AFUNIX_FOUND_EPOLL)
endif()
if(AFUNIX_ASK_SO_PEERCRED)
  check_c_source_compiles("
#define _GNU_SOURCE 1
#include <sys/types.h>
#include <sys/socket.h>
int main(void) { struct ucred c; socklen_t n = sizeof c; return getsockopt(0, SOL_SOCKET, SO_PEERCRED, &c, &n); }
" AFUNIX_FOUND_SO_PEERCRED)
endif()
if(AFUNIX_ASK_GETPEEREID)
  check_symbol_exists(getpeereid "sys/types.h;unistd.h" AFUNIX_FOUND_GETPEEREID)
endif()
if(AFUNIX_ASK_LOCAL_PEERCRED)
  check_struct_has_member("struct xucred" cr_uid "sys/types.h;sys/socket.h;sys/ucred.h;sys/un.h"
                          AFUNIX_FOUND_LOCAL_PEERCRED LANGUAGE C)
endif()
if(AFUNIX_ASK_LOCAL_PEERPID)
  check_symbol_exists(LOCAL_PEERPID "sys/socket.h;sys/un.h" AFUNIX_FOUND_LOCAL_PEERPID)
endif()
if(AFUNIX_ASK_SCM_CREDENTIALS)
  check_symbol_exists(SCM_CREDENTIALS "sys/socket.h" AFUNIX_FOUND_SCM_CREDENTIALS)
endif()
if(AFUNIX_ASK_SCM_CREDS)
  check_struct_has_member("struct cmsgcred" cmcred_uid "sys/types.h;sys/socket.h" AFUNIX_FOUND_SCM_CREDS LANGUAGE C)
endif()
if(AFUNIX_ASK_SOCK_SEQPACKET)
  check_symbol_exists(SOCK_SEQPACKET "sys/socket.h" AFUNIX_FOUND_SOCK_SEQPACKET)
endif()
if(AFUNIX_ASK_MSG_CMSG_CLOEXEC)
  check_symbol_exists(MSG_CMSG_CLOEXEC "sys/socket.h" AFUNIX_FOUND_MSG_CMSG_CLOEXEC)
endif()
if(AFUNIX_ASK_SO_PEEK_OFF)
  check_symbol_exists(SO_PEEK_OFF "sys/socket.h" AFUNIX_FOUND_SO_PEEK_OFF)
endif()
if(AFUNIX_ASK_PIDFD)
  check_symbol_exists(SYS_pidfd_open "sys/syscall.h" AFUNIX_FOUND_PIDFD)
endif()
if(AFUNIX_ASK_ACCEPT4)
  check_symbol_exists(accept4 "sys/socket.h" AFUNIX_FOUND_ACCEPT4)
endif()
if(AFUNIX_ASK_SENDMMSG)
  check_symbol_exists(sendmmsg "sys/socket.h" AFUNIX_FOUND_SENDMMSG)
endif()
if(AFUNIX_ASK_PIPE2)
  check_symbol_exists(pipe2 "fcntl.h;unistd.h" AFUNIX_FOUND_PIPE2)
endif()
if(AFUNIX_ASK_SIGTIMEDWAIT)
  check_symbol_exists(sigtimedwait "signal.h" AFUNIX_FOUND_SIGTIMEDWAIT)
endif()
if(AFUNIX_ASK_SOCK_CLOEXEC)
  check_symbol_exists(SOCK_CLOEXEC "sys/socket.h" AFUNIX_FOUND_SOCK_CLOEXEC)
endif()
if(AFUNIX_ASK_CLOSE_RANGE)
  check_symbol_exists(close_range "unistd.h" AFUNIX_FOUND_CLOSE_RANGE)
endif()
if(AFUNIX_ASK_PROC_FS)
  # /proc/self/fd, /proc/self/fdinfo and /proc/net/unix are Linux's.
  check_c_source_compiles("
#ifndef __linux__
#error not Linux
#endif
int main(void) { return 0; }
" AFUNIX_FOUND_PROC_FS)
endif()
cmake_pop_check_state()

set(AFUNIX_FEATURE_DEFINES "")
set(AFUNIX_FEATURE_SUMMARY "")
foreach(f IN LISTS AFUNIX_FEATURES)
  if(AFUNIX_ASK_${f} AND AFUNIX_FOUND_${f})
    set(AFUNIX_HAVE_${f} 1)
  else()
    set(AFUNIX_HAVE_${f} 0)
  endif()
  string(APPEND AFUNIX_FEATURE_DEFINES "#define AFUNIX_HAVE_${f} ${AFUNIX_HAVE_${f}}\n")
  if(AFUNIX_HAVE_${f})
    list(APPEND AFUNIX_FEATURE_SUMMARY ${f})
  endif()
endforeach()
if(AFUNIX_POSIX_ONLY)
  set(AFUNIX_POSIX_ONLY_VALUE 1)
else()
  set(AFUNIX_POSIX_ONLY_VALUE 0)
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/afunix_features.h.in ${CMAKE_BINARY_DIR}/generated/afunix_features.h @ONLY)
string(REPLACE ";" " " _summary "${AFUNIX_FEATURE_SUMMARY}")
if(AFUNIX_POSIX_ONLY)
  set(_summary "${_summary} (POSIX-only profile)")
endif()
message(STATUS "afunix features: ${_summary}")
