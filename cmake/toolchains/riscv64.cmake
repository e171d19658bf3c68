# Cross build of the scenario program for 64-bit RISC-V (Debian's g++-riscv64-linux-gnu), run under
# qemu-riscv64 by the qemu-riscv64 backend: LP64 little-endian like x86_64, with the generic
# syscall table (no socketcall, no legacy calls) that newer architectures share with aarch64.
#   cmake -S . -B build-riscv64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/riscv64.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR riscv64)
set(AFUNIX_CROSS_TRIPLE riscv64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
