#include "app/no_dumps.hpp"

#include <sys/prctl.h>

namespace ap::app {

bool ForbidCoreDumps() { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0; }

}  // namespace ap::app
