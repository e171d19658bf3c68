// Selects the design of libafunix-cygwin2014.so (see emulations/README.md).
#include "shim.h"

namespace afunix_emu {
extern const Design kDesign = Design::kCygwin2014;
}
