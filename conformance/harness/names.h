// Symbolic names for the numbers a scenario observes (errno, signals, socket types, poll bits, file
// types), so traces say "ENOENT" and "SOCK_STREAM" instead of numbers that vary between ABIs.
#pragma once

#include <string>

namespace afunix {

std::string errno_name(int err);
std::string signal_name(int sig);
std::string socket_type_name(int type);     // SOCK_STREAM, ... plus |SOCK_NONBLOCK|SOCK_CLOEXEC
std::string poll_events_name(int revents);  // "POLLIN|POLLHUP", "none"
std::string msg_flags_name(int flags);      // "MSG_TRUNC|MSG_CTRUNC", "none"
std::string file_type_name(unsigned mode);  // "socket", "regular", "directory", ...
std::string level_name(int level);               // "SOL_SOCKET", "SOL_UNIX", or "level-N"
std::string socket_option_name(int level, int option);  // "SO_PEERCRED", or "option-N"
std::string cmsg_type_name(int level, int type);       // "SCM_RIGHTS", "SCM_CREDENTIALS", ...
std::string epoll_events_name(unsigned events);        // "EPOLLIN|EPOLLET", "none"
std::string open_flags_name(int flags);                // "O_RDWR|O_CREAT"
std::string family_name(int family);                   // "AF_UNIX", "AF_INET", or "family-N"
std::string octal_mode(unsigned mode);      // permission bits only, "0666"

// Bytes as a JSON-safe readable string: printable ASCII stays, anything else becomes \xNN.
std::string escape_bytes(const std::string& bytes);

}  // namespace afunix
