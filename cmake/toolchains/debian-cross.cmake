# Shared part of the Debian cross toolchains: AFUNIX_CROSS_TRIPLE names the GNU triple whose
# compilers (g++-<triple>) and target libraries (/usr/<triple>) Debian's cross packages install.
set(CMAKE_C_COMPILER ${AFUNIX_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${AFUNIX_CROSS_TRIPLE}-g++)

# Target libraries and headers live under /usr/<triple>; the host's /usr must never leak in.
set(CMAKE_FIND_ROOT_PATH /usr/${AFUNIX_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Lets CMake run target programs (try_run, gtest_discover_tests) through qemu-user if anything
# ever needs to; the backends pass the same -L sysroot.
find_program(AFUNIX_QEMU_USER NAMES qemu-${CMAKE_SYSTEM_PROCESSOR})
if(AFUNIX_QEMU_USER)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${AFUNIX_QEMU_USER} -L /usr/${AFUNIX_CROSS_TRIPLE})
endif()
