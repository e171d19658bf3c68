# Cross build of the scenario program for 64-bit Arm (Debian's g++-aarch64-linux-gnu), run under
# qemu-aarch64 by the qemu-aarch64 backend. GoogleTest is built from /usr/src/googletest (the
# top-level CMakeLists.txt does that whenever CMAKE_CROSSCOMPILING).
#   cmake -S . -B build-aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(AFUNIX_CROSS_TRIPLE aarch64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
