# Cross build of the scenario program for IBM Z (Debian's g++-s390x-linux-gnu), run under
# qemu-s390x by the qemu-s390x backend: 64-bit and big-endian, the one build whose every integer in
# a socket structure (sun_family, cmsg_len, struct ucred) is stored the other way round, so a trace
# that depends on byte order or struct layout shows up here first.
#   cmake -S . -B build-s390x -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/s390x.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(AFUNIX_CROSS_TRIPLE s390x-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
