// Packing socket states into AFUNIX_EMU_STATE for exec(): round trips, compactness, and refusal of
// malformed or foreign values.
#include "sock_state.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

using namespace afunix_emu;

namespace {

SockState Sample(int type, const char* path) {
  SockState st;
  init_state(&st, 1, type);
  st.phase = Phase::kExchanging;
  st.flags = kAccepted | kPeerValid;
  st.tcp_port = 40123;
  st.ino = 0x123456789abcULL;
  std::snprintf(st.path, sizeof st.path, "%s", path);
  std::snprintf(st.file, sizeof st.file, "/tmp/scn/%s", path);
  st.own = Cred{10, 20, 30};
  st.peer = Cred{40, 50, 60};
  st.secret = Secret{{1, 2, 3, 4}};
  ex_init(&st.ex, ExKind::kP1Client, st.secret, st.secret, st.own);
  ex_sent(&st.ex, 28);
  return st;
}

void Collect(int fd, const SockState& st, void* arg) {
  static_cast<std::vector<std::pair<int, SockState>>*>(arg)->emplace_back(fd, st);
}

}  // namespace

TEST(StatePacking, BytesRoundTrip) {
  std::vector<uint8_t> data(300);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i % 7 == 0 ? 0 : i * 37);
  std::memset(data.data() + 100, 0, 150);  // a long run of zeros
  data[299] = 0;
  data[298] = 0;
  char text[1000];
  size_t n = pack_bytes(data.data(), data.size(), text, sizeof text);
  ASSERT_GT(n, 0u);
  EXPECT_LT(n, 2 * data.size() - 200);  // the zero run was shortened
  std::vector<uint8_t> back(data.size(), 0xee);
  EXPECT_EQ(unpack_bytes(text, back.data(), back.size()), n);
  EXPECT_EQ(back, data);
}

TEST(StatePacking, RefusesMalformedText) {
  uint8_t buf[4];
  EXPECT_EQ(unpack_bytes("0102", buf, 4), 0u);        // too short
  EXPECT_EQ(unpack_bytes("01020g04", buf, 4), 0u);    // not hex
  EXPECT_EQ(unpack_bytes("Z5.", buf, 4), 0u);         // zero run longer than the data
  EXPECT_EQ(unpack_bytes("Z0.01020304", buf, 4), 0u); // empty run
  EXPECT_EQ(unpack_bytes("Z2", buf, 4), 0u);          // unterminated run
  EXPECT_EQ(unpack_bytes("Z.01020304", buf, 4), 0u);
  EXPECT_EQ(unpack_bytes("", buf, 4), 0u);
  EXPECT_EQ(unpack_bytes("Z2.0a0b", buf, 4), 7u);
  EXPECT_EQ(buf[0], 0);
  EXPECT_EQ(buf[3], 0x0b);
  char small[4];
  EXPECT_EQ(pack_bytes("\x01\x02\x03", 3, small, sizeof small), 0u);  // needs 7
}

TEST(StatePacking, EnvironmentValueRoundTrip) {
  SockState a = Sample(SOCK_STREAM, "srv.sock");
  SockState b = Sample(SOCK_DGRAM, "dgram.sock");
  char value[8192];
  size_t len = format_state_header(1, value, sizeof value);
  ASSERT_GT(len, 0u);
  len += format_state_entry(0, a, value + len, sizeof value - len);
  len += format_state_entry(17, b, value + len, sizeof value - len);
  EXPECT_LT(len, 2000u) << "states should pack small: " << len;
  std::vector<std::pair<int, SockState>> got;
  ASSERT_TRUE(parse_state_value(value, 1, Collect, &got));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, 0);
  EXPECT_EQ(got[1].first, 17);
  EXPECT_EQ(std::memcmp(&got[0].second, &a, sizeof a), 0);
  EXPECT_EQ(std::memcmp(&got[1].second, &b, sizeof b), 0);
  EXPECT_STREQ(got[1].second.path, "dgram.sock");
  EXPECT_EQ(got[0].second.ex.step, 1);
}

TEST(StatePacking, ForeignOrBrokenValuesAreIgnored) {
  SockState a = Sample(SOCK_STREAM, "srv.sock");
  char value[8192];
  size_t len = format_state_header(1, value, sizeof value);
  len += format_state_entry(3, a, value + len, sizeof value - len);
  std::vector<std::pair<int, SockState>> got;
  EXPECT_FALSE(parse_state_value(value, 2, Collect, &got));  // another design's library
  EXPECT_FALSE(parse_state_value("v0:1:999:3=00;", 1, Collect, &got));
  EXPECT_FALSE(parse_state_value("", 1, Collect, &got));
  EXPECT_TRUE(got.empty());
  // A damaged entry stops parsing without reporting it.
  std::string damaged(value);
  damaged[damaged.size() - 5] = 'x';
  EXPECT_TRUE(parse_state_value(damaged.c_str(), 1, Collect, &got));
  EXPECT_TRUE(got.empty());
  std::string truncated(value, value + len - 10);
  EXPECT_TRUE(parse_state_value(truncated.c_str(), 1, Collect, &got));
  EXPECT_TRUE(got.empty());
  // A state that claims another design is skipped.
  SockState other = a;
  other.design = 3;
  len = format_state_header(1, value, sizeof value);
  len += format_state_entry(4, other, value + len, sizeof value - len);
  len += format_state_entry(5, a, value + len, sizeof value - len);
  EXPECT_TRUE(parse_state_value(value, 1, Collect, &got));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, 5);
}
