# Installation: the public header, the shared and static libraries, a CMake package
# (find_package(qwen) -> qwen::qwen, qwen::qwen_static) and a pkg-config file (qwen.pc).
#
# Layout (GNUInstallDirs, every path relative to the prefix so the tree is relocatable):
#   include/qwen/qwen.h
#   <libdir>/libqwen.so.<ABI> (+ libqwen.so.<version>, libqwen.so), <libdir>/libqwen.a
#   <libdir>/cmake/qwen/qwen{Config,ConfigVersion,Targets*}.cmake
#   <libdir>/pkgconfig/qwen.pc
# Components: Runtime (the versioned shared object) and Development (everything else).

include(CMakePackageConfigHelpers)

set(QWEN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/qwen"
    CACHE STRING "Where qwenConfig.cmake is installed (relative to the prefix)")
set(QWEN_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where qwen.pc is installed (relative to the prefix)")
mark_as_advanced(QWEN_INSTALL_CMAKEDIR QWEN_INSTALL_PKGCONFIGDIR)

# ---- Header and libraries -------------------------------------------------------------

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/qwen"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  COMPONENT Development
  FILES_MATCHING PATTERN "*.h")

install(TARGETS qwen qwen_static
  EXPORT qwenTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    COMPONENT Runtime NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT Development
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT Runtime)

# ---- CMake package ----------------------------------------------------------------------

install(EXPORT qwenTargets
  NAMESPACE qwen::
  FILE qwenTargets.cmake
  DESTINATION "${QWEN_INSTALL_CMAKEDIR}"
  COMPONENT Development)

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/qwenConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/qwenConfig.cmake"
  INSTALL_DESTINATION "${QWEN_INSTALL_CMAKEDIR}")

# The ABI policy (docs/ABI.md): while the major version is 0 a minor release may break the
# ABI, so find_package(qwen 0.1) must not accept 0.2. From 1.0 on, the major version moves
# with every ABI break.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_qwen_compat SameMinorVersion)
else()
  set(_qwen_compat SameMajorVersion)
endif()
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/qwenConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY ${_qwen_compat})

install(FILES
    "${PROJECT_BINARY_DIR}/qwenConfig.cmake"
    "${PROJECT_BINARY_DIR}/qwenConfigVersion.cmake"
  DESTINATION "${QWEN_INSTALL_CMAKEDIR}"
  COMPONENT Development)

# ---- pkg-config -------------------------------------------------------------------------

# prefix is computed from the .pc file's own location (${pcfiledir}), so an installed tree
# can be moved or installed with `cmake --install --prefix` elsewhere than configured.
file(RELATIVE_PATH _qwen_pc_to_prefix
  "/prefix/${QWEN_INSTALL_PKGCONFIGDIR}" "/prefix")
string(REGEX REPLACE "/$" "" _qwen_pc_to_prefix "${_qwen_pc_to_prefix}")
set(QWEN_PC_PREFIX "\${pcfiledir}/${_qwen_pc_to_prefix}")
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(QWEN_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(QWEN_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()

# What a static link needs besides libqwen.a: the OpenMP runtime the library was built with
# (libgomp for GCC), threads, the C++ runtime and libm; utf8proc comes via Requires.private.
set(QWEN_PC_LIBS_PRIVATE)
foreach(_lib IN LISTS OpenMP_CXX_LIB_NAMES)
  if(NOT _lib STREQUAL "pthread")
    list(APPEND QWEN_PC_LIBS_PRIVATE "-l${_lib}")
  endif()
endforeach()
list(APPEND QWEN_PC_LIBS_PRIVATE -lpthread -lstdc++ -lm)
list(JOIN QWEN_PC_LIBS_PRIVATE " " QWEN_PC_LIBS_PRIVATE)

configure_file("${PROJECT_SOURCE_DIR}/pkgconfig/qwen.pc.in"
  "${PROJECT_BINARY_DIR}/qwen.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/qwen.pc"
  DESTINATION "${QWEN_INSTALL_PKGCONFIGDIR}"
  COMPONENT Development)
