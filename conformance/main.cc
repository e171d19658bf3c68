// The scenario program's entry point: GoogleTest's, without gtest_main's banner, so that
// --gtest_list_tests prints nothing but the scenario list the runner parses. When the runner runs
// many scenarios in this process it passes a channel (AFUNIX_BATCH_FD): see harness/batch.h.
#include <gtest/gtest.h>

#include "batch.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  afunix::batch::install();
  return RUN_ALL_TESTS();
}
