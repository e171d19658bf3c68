// Selects the design of libafunix-proposal2.so (see emulations/README.md).
#include "shim.h"

namespace afunix_emu {
extern const Design kDesign = Design::kProposal2;
}
