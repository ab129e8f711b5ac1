#pragma once
// Whatever command it runs, this process may hold provider keys, signing keys and the master key.
// Marked not dumpable, it writes no core dump of them to disk when it crashes, and no other process
// of its user may read its memory or environment (ptrace, /proc/PID/mem, /proc/PID/environ,
// which holds AIPASSPORT_MASTER_KEY when it is set there); root still may.

namespace ap::app {

// prctl(PR_SET_DUMPABLE, 0); false when the kernel refused it.
bool ForbidCoreDumps();

}  // namespace ap::app
