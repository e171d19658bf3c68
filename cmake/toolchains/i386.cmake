# 32-bit x86 build of the scenario program, run directly on an x86_64 kernel through its compat
# layer (needs g++-multilib, which Debian cannot install beside the aarch64/armhf cross compilers the
# qemu backends need: install it for a one-off check, then reinstall those). Not a backend: an ABI control. The kernel's own 32-bit ABI is the
# reference for what a 32-bit program must observe, so a difference between this build and the
# native one is the recorder's (a normalisation bug), while a difference that qemu-arm shows and
# this build does not is qemu's conversion (docs/triage/qemu-arm.md).
#   cmake -S . -B build-i386 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/i386.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_COMPILER gcc)
set(CMAKE_CXX_COMPILER g++)
set(CMAKE_C_FLAGS_INIT -m32)
set(CMAKE_CXX_FLAGS_INIT -m32)
set(CMAKE_EXE_LINKER_FLAGS_INIT -m32)
set(CMAKE_SHARED_LINKER_FLAGS_INIT -m32)
