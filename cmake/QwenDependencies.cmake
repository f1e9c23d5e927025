# Every dependency comes from a Debian package (scripts/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
if(CMAKE_CROSSCOMPILING)
  # xsimd is header-only, but Debian installs its CMake package in the build machine's
  # architecture folder, where a cross build does not look. Debian's cross compilers search
  # the build machine's /usr/include after the target's own headers, so the headers serve
  # as they are (doctest's package is architecture-independent and is found below).
  find_package(xsimd QUIET)
  if(NOT xsimd_FOUND)
    find_path(QWEN_XSIMD_INCLUDE_DIR xsimd/xsimd.hpp REQUIRED)
    add_library(xsimd INTERFACE IMPORTED)
  endif()
else()
  find_package(xsimd REQUIRED)
endif()
if(NOT QWEN_KERNELS_ONLY)
  find_package(PkgConfig REQUIRED)
  find_package(nlohmann_json 3.10 REQUIRED)
  pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
endif()
if(QWEN_BUILD_TESTS)
  find_package(doctest REQUIRED)
endif()
if(QWEN_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
