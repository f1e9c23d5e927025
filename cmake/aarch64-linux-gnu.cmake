# Cross build for 64-bit Arm Linux with Debian's g++-aarch64-linux-gnu, tests run under
# qemu-user: CTest puts the emulator in front of every test binary, so `ctest` works as on
# the build machine (tests/CMakeLists.txt picks the emulated CPU through QEMU_CPU).
# The preset `arm` (scripts/test-arm.sh) uses this file with QWEN_KERNELS_ONLY.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# The target's libraries are Debian's cross runtime in /usr/aarch64-linux-gnu (which the
# compiler finds by itself): CMake must never link one of the build machine's, but may take
# header-only packages (xsimd, doctest) and programs from it.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# -L: where qemu finds the target's dynamic loader and shared libraries (libstdc++, libgomp).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
