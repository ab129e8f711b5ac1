#include "app/no_dumps.hpp"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ap::app {
namespace {

// In a child process, so that the test runner stays dumpable for its own diagnostics.
TEST(NoDumps, TheProcessIsNoLongerDumpable) {
  ASSERT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1) << "a process starts dumpable";
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(ForbidCoreDumps() && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace ap::app
