# Cross build of the scenario program for 32-bit Arm, hard-float EABI (Debian's
# g++-arm-linux-gnueabihf), run under qemu-arm by the qemu-arm backend. 32-bit: long, size_t,
# time_t-era structs and socklen_t arithmetic differ from the 64-bit builds, which is the point.
#   cmake -S . -B build-armhf -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/armhf.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(AFUNIX_CROSS_TRIPLE arm-linux-gnueabihf)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
