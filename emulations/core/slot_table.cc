#include "slot_table.h"

#include "socket_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <cstdlib>

namespace afunix_emu {
namespace {

// Field widths of a slot line: port, pid, uid, gid, timestamp, separated by single spaces.
constexpr size_t kWidths[] = {5, 10, 10, 10, 20};

bool parse_digits(const char* p, size_t n, uint64_t* out) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (p[i] < '0' || p[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(p[i] - '0');
  }
  *out = v;
  return true;
}

// Parses one slot line; false if malformed.
bool parse_slot(const char* line, Slot* out) {
  uint64_t v[5];
  const char* p = line;
  for (int i = 0; i < 5; ++i) {
    if (!parse_digits(p, kWidths[i], &v[i])) return false;
    p += kWidths[i];
    if (*p != (i == 4 ? '\n' : ' ')) return false;
    ++p;
  }
  if (v[0] > 65535 || v[1] > 0x7fffffffULL || v[2] > 0xffffffffULL || v[3] > 0xffffffffULL ||
      v[4] > 0x7fffffffffffffffULL)
    return false;
  out->port = static_cast<uint16_t>(v[0]);
  out->cred = Cred{static_cast<int32_t>(v[1]), static_cast<uint32_t>(v[2]),
                   static_cast<uint32_t>(v[3])};
  out->stamp = static_cast<int64_t>(v[4]);
  return true;
}

// An open, locked table file; closing the descriptor releases the lock.
class LockedTable {
 public:
  ~LockedTable() {
    if (fd_ >= 0) ::close(fd_);
    std::free(data_);
  }
  // Opens path with flags (O_RDWR or O_RDONLY), takes the lock, reads and validates the table.
  int open(const char* path, int flags) {
    fd_ = raw_open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd_ < 0) return errno == ENXIO || errno == EISDIR ? EBADF : errno;
    struct stat st;
    if (::fstat(fd_, &st) != 0) return errno;
    if (!S_ISREG(st.st_mode)) return EBADF;
    if (::flock(fd_, LOCK_EX) != 0) return errno;  // EINTR surfaces
    if (::fstat(fd_, &st) != 0) return errno;
    if (st.st_size < 0 || static_cast<size_t>(st.st_size) > kTableMax) return EBADF;
    data_ = static_cast<char*>(std::malloc(kTableMax));
    if (!data_) return ENOMEM;
    size_t got = 0, want = static_cast<size_t>(st.st_size);
    while (got < want) {
      ssize_t n = ::pread(fd_, data_ + got, want - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    len_ = got;
    return parse_table(data_, len_, &type_, &nslots_);
  }
  int write_slot(size_t index, const Slot& slot) {
    char line[kSlotLen];
    format_slot(slot, line);
    off_t at = static_cast<off_t>(kTableHeaderLen + index * kSlotLen);
    size_t off = 0;
    while (off < kSlotLen) {
      ssize_t n = ::pwrite(fd_, line + off, kSlotLen - off, at + static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return n < 0 ? errno : EIO;
      off += static_cast<size_t>(n);
    }
    return 0;
  }
  const char* data() const { return data_; }
  size_t nslots() const { return nslots_; }
  int type() const { return type_; }

 private:
  int fd_ = -1;
  char* data_ = nullptr;
  size_t len_ = 0;
  size_t nslots_ = 0;
  int type_ = 0;
};

int64_t now_seconds() { return static_cast<int64_t>(::time(nullptr)); }

}  // namespace

size_t format_table_header(int type, char* out, size_t cap) {
  char letter = type == SOCK_STREAM ? 's' : type == SOCK_DGRAM ? 'd' : 0;
  if (!letter || cap < kTableHeaderLen) return 0;
  std::memcpy(out, kTableMagic, kTableMagicLen);
  out[kTableMagicLen] = letter;
  out[kTableMagicLen + 1] = '\n';
  return kTableHeaderLen;
}

void format_slot(const Slot& slot, char out[kSlotLen]) {
  char buf[kSlotLen + 1];
  std::snprintf(buf, sizeof buf, "%05u %010d %010u %010u %020lld\n", slot.port, slot.cred.pid,
                slot.cred.uid, slot.cred.gid, static_cast<long long>(slot.stamp));
  std::memcpy(out, buf, kSlotLen);
}

int parse_table(const char* data, size_t len, int* type, size_t* nslots) {
  if (len < kTableHeaderLen || std::memcmp(data, kTableMagic, kTableMagicLen) != 0) return EBADF;
  if (data[kTableMagicLen + 1] != '\n') return EBADF;
  char letter = data[kTableMagicLen];
  int t;
  if (letter == 's')
    t = SOCK_STREAM;
  else if (letter == 'd')
    t = SOCK_DGRAM;
  else
    return EPROTOTYPE;
  size_t body = len - kTableHeaderLen;
  if (body == 0 || body % kSlotLen != 0) return EBADF;
  size_t n = body / kSlotLen;
  if (n > 1 + kMaxClientSlots) return EBADF;
  for (size_t i = 0; i < n; ++i) {
    Slot s;
    if (!parse_slot(data + kTableHeaderLen + i * kSlotLen, &s)) return EBADF;
    if (i == 0 && s.port == 0) return EBADF;
  }
  *type = t;
  *nslots = n;
  return 0;
}

Slot table_slot(const char* data, size_t i) {
  Slot s{};
  parse_slot(data + kTableHeaderLen + i * kSlotLen, &s);
  return s;
}

long plan_client_slot(const char* data, size_t nslots, uint16_t port, int64_t now) {
  long free_slot = -1, oldest = -1;
  int64_t oldest_stamp = 0;
  for (size_t i = 1; i < nslots; ++i) {
    Slot s = table_slot(data, i);
    if (s.port == port) return static_cast<long>(i);
    if (s.port == 0) {
      if (free_slot < 0) free_slot = static_cast<long>(i);
    } else if (oldest < 0 || s.stamp < oldest_stamp) {
      oldest = static_cast<long>(i);
      oldest_stamp = s.stamp;
    }
  }
  if (free_slot >= 0) return free_slot;
  if (nslots < 1 + kMaxClientSlots) return static_cast<long>(nslots);
  if (oldest >= 0 && oldest_stamp + kSlotTtlSeconds <= now) return oldest;
  return -1;
}

long find_client_slot(const char* data, size_t nslots, uint16_t port) {
  if (port == 0) return -1;
  for (size_t i = 1; i < nslots; ++i)
    if (table_slot(data, i).port == port) return static_cast<long>(i);
  return -1;
}

int table_create(const char* path, mode_t mode, int type, const Slot& server) {
  char buf[kTableHeaderLen + kSlotLen];
  if (format_table_header(type, buf, sizeof buf) == 0) return EINVAL;
  format_slot(server, buf + kTableHeaderLen);
  int fd = raw_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  int err = 0;
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {  // nobody else can hold it yet; retrying is bounded
      err = errno;
      break;
    }
  }
  size_t off = 0;
  while (err == 0 && off < sizeof buf) {
    ssize_t n = ::pwrite(fd, buf + off, sizeof buf - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) err = n < 0 ? errno : EIO;
    else off += static_cast<size_t>(n);
  }
  if (err == 0 && ::fchmod(fd, mode & 07777) != 0) err = errno;
  ::close(fd);
  if (err != 0) ::unlink(path);
  return err;
}

int table_register(const char* path, int type, const Slot& client, Slot* server) {
  LockedTable t;
  if (int err = t.open(path, O_RDWR)) return err;
  if (t.type() != type) return EPROTOTYPE;
  long at = plan_client_slot(t.data(), t.nslots(), client.port, now_seconds());
  if (at < 0) return EAGAIN;
  if (int err = t.write_slot(static_cast<size_t>(at), client)) return err;
  *server = table_slot(t.data(), 0);
  return 0;
}

int table_claim(const char* path, uint16_t port, Slot* client) {
  LockedTable t;
  if (int err = t.open(path, O_RDWR)) return err;
  long at = find_client_slot(t.data(), t.nslots(), port);
  if (at < 0) return ESRCH;
  *client = table_slot(t.data(), static_cast<size_t>(at));
  return t.write_slot(static_cast<size_t>(at), Slot{0, Cred{0, 0, 0}, 0});
}

int table_release(const char* path, uint16_t port) {
  LockedTable t;
  if (int err = t.open(path, O_RDWR)) return err;
  long at = find_client_slot(t.data(), t.nslots(), port);
  if (at < 0) return 0;
  return t.write_slot(static_cast<size_t>(at), Slot{0, Cred{0, 0, 0}, 0});
}

int table_read_server(const char* path, int* type, Slot* server) {
  LockedTable t;
  if (int err = t.open(path, O_RDONLY)) return err;
  *type = t.type();
  *server = table_slot(t.data(), 0);
  return 0;
}

}  // namespace afunix_emu
