# Compiler launcher and warnings shared by every target.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  # Precompiled headers and ccache only mix with these sloppiness settings.
  set(_wtserve_launcher ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}" ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_wtserve_launcher})
endif()

add_library(wtserve_warnings INTERFACE)
target_compile_options(wtserve_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)
