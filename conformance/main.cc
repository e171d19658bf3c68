// The scenario program's entry point: GoogleTest's, without gtest_main's banner, so that
// --gtest_list_tests prints nothing but the scenario list the runner parses.
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
