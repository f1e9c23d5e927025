# Warnings for the project's own targets only (third-party headers are SYSTEM includes).
add_library(qwen_warnings INTERFACE)
target_compile_options(qwen_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow
  $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor> -Wcast-align -Wdouble-promotion -Wformat=2
  # GCC 12 reports impossible overlaps inside std::string at -O3 (GCC bug 105329).
  -Wno-restrict
  $<$<BOOL:${QWEN_WERROR}>:-Werror>)
