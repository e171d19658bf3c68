# 32-bit x86 build of the scenario program with Debian's cross compiler g++-i686-linux-gnu (which,
# unlike g++-multilib, installs beside the other cross compilers). Two uses:
# - the qemu-i386 backend runs it under qemu-user (-L /usr/i686-linux-gnu);
# - the ABI control: the x86_64 kernel runs it directly through its compat layer when started by
#   the cross sysroot's loader (/usr/i686-linux-gnu/lib/ld-linux.so.2 --library-path
#   /usr/i686-linux-gnu/lib PROGRAM). The kernel's own 32-bit ABI is the reference for what a
#   32-bit program must observe, so a difference between that run and the native one is the
#   recorder's (a normalisation bug), while one that qemu shows and the control does not is
#   qemu's conversion (docs/triage/README.md, "Method").
#   cmake -S . -B build-i386 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/i386.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(AFUNIX_CROSS_TRIPLE i686-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
# qemu-user's name for this architecture is i386, not the processor's i686.
find_program(AFUNIX_QEMU_USER NAMES qemu-i386)
if(AFUNIX_QEMU_USER)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${AFUNIX_QEMU_USER} -L /usr/${AFUNIX_CROSS_TRIPLE})
endif()
