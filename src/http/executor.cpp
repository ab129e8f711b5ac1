// RunBlocking lives in the header; this file keeps the module list honest.
#include "http/executor.hpp"
